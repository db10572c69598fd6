import CZeroMQ

/// The ZeroMQ messaging patterns Keyfarm can open a socket for (zmq_socket(3)).
///
/// The coordinator is a ROUTER and each worker a DEALER; the other types are for tests,
/// inproc hand-offs between threads, and event fan-out.
public enum ZMQSocketType: Sendable {
    case router, dealer, pair, push, pull, pub, sub, req, rep

    /// The libzmq constant, e.g. ZMQ_ROUTER.
    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        }
    }
}
