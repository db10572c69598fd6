// Every user of the sockets speaks the protocol's messages.
@_exported import KeyfarmProtocol
