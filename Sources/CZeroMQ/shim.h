#include <zmq.h>
/* epoll, for waiting on the notification descriptors (ZMQ_FD) of thousands of sockets
   (KeyfarmWire's EventPoll); Swift's Glibc module does not bring it. */
#ifdef __linux__
#include <sys/epoll.h>
#endif
