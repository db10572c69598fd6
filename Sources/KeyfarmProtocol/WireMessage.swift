import Foundation
import SwiftProtobuf

/// The commands of protocol version 1, as they travel in a message's second frame.
public enum WireCommand: String, Sendable, CaseIterable {
    case hello = "HELLO"
    case welcome = "WELCOME"
    case heartbeat = "HEARTBEAT"
    case assign = "ASSIGN"
    case accepted = "ACCEPTED"
    case progress = "PROGRESS"
    case submitted = "SUBMITTED"
    case submittedAck = "SUBMITTED_ACK"
    case result = "RESULT"
    case resultAck = "RESULT_ACK"
    case cancel = "CANCEL"
    case drain = "DRAIN"
    case disconnect = "DISCONNECT"
}

public typealias HelloBody = Keyfarm_Wire_V1_Hello
public typealias WelcomeBody = Keyfarm_Wire_V1_Welcome
public typealias HeartbeatBody = Keyfarm_Wire_V1_Heartbeat
public typealias AssignBody = Keyfarm_Wire_V1_Assign
public typealias AcceptedBody = Keyfarm_Wire_V1_Accepted
public typealias ProgressBody = Keyfarm_Wire_V1_Progress
public typealias SubmittedBody = Keyfarm_Wire_V1_ProviderSubmitted
public typealias SubmittedAckBody = Keyfarm_Wire_V1_ProviderSubmittedAck
public typealias ResultBody = Keyfarm_Wire_V1_Result
public typealias ResultAckBody = Keyfarm_Wire_V1_ResultAck
public typealias CancelBody = Keyfarm_Wire_V1_Cancel
public typealias DrainBody = Keyfarm_Wire_V1_Drain
public typealias DisconnectBody = Keyfarm_Wire_V1_Disconnect
public typealias RunningJobBody = Keyfarm_Wire_V1_RunningJob
public typealias ArtifactBody = Keyfarm_Wire_V1_Artifact

/// One protocol message with its typed body (see proto/PROTOCOL.md).
public enum WireMessage: Sendable, Equatable {
    case hello(HelloBody)
    case welcome(WelcomeBody)
    case heartbeat(HeartbeatBody)
    case assign(AssignBody)
    case accepted(AcceptedBody)
    case progress(ProgressBody)
    case submitted(SubmittedBody)
    case submittedAck(SubmittedAckBody)
    case result(ResultBody)
    case resultAck(ResultAckBody)
    case cancel(CancelBody)
    case drain(DrainBody)
    case disconnect(DisconnectBody)

    public var command: WireCommand {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .heartbeat: .heartbeat
        case .assign: .assign
        case .accepted: .accepted
        case .progress: .progress
        case .submitted: .submitted
        case .submittedAck: .submittedAck
        case .result: .result
        case .resultAck: .resultAck
        case .cancel: .cancel
        case .drain: .drain
        case .disconnect: .disconnect
        }
    }

    private var body: any SwiftProtobuf.Message {
        switch self {
        case .hello(let body): body
        case .welcome(let body): body
        case .heartbeat(let body): body
        case .assign(let body): body
        case .accepted(let body): body
        case .progress(let body): body
        case .submitted(let body): body
        case .submittedAck(let body): body
        case .result(let body): body
        case .resultAck(let body): body
        case .cancel(let body): body
        case .drain(let body): body
        case .disconnect(let body): body
        }
    }

    /// The three frames a DEALER sends: signature and version, command, protobuf body.
    public func frames() -> [[UInt8]] {
        // Serialising a message whose fields are all set cannot fail (required fields do not exist in proto3).
        let body: [UInt8] = (try? self.body.serializedBytes()) ?? []
        return [WireProtocol.signature, Array(command.rawValue.utf8), body]
    }

    /// Reads a message from its frames (without the ROUTER's identity frame).
    public static func decode(_ frames: some Collection<[UInt8]>) throws(WireError) -> WireMessage {
        guard frames.count == 3 else { throw .frameCount(frames.count) }
        var iterator = frames.makeIterator()
        let signature = iterator.next()!, commandFrame = iterator.next()!, body = iterator.next()!
        guard signature.count == 4, Array(signature.prefix(3)) == Array(WireProtocol.signature.prefix(3)) else {
            throw .badSignature(Array(signature.prefix(8)))
        }
        guard signature[3] == WireProtocol.version else { throw .unsupportedVersion(signature[3]) }
        guard commandFrame.count <= 32, let name = String(bytes: commandFrame, encoding: .ascii),
              let command = WireCommand(rawValue: name) else {
            throw .unknownCommand(String(decoding: commandFrame.prefix(32), as: UTF8.self))
        }
        do {
            switch command {
            case .hello: return .hello(try HelloBody(serializedBytes: body))
            case .welcome: return .welcome(try WelcomeBody(serializedBytes: body))
            case .heartbeat: return .heartbeat(try HeartbeatBody(serializedBytes: body))
            case .assign: return .assign(try AssignBody(serializedBytes: body))
            case .accepted: return .accepted(try AcceptedBody(serializedBytes: body))
            case .progress: return .progress(try ProgressBody(serializedBytes: body))
            case .submitted: return .submitted(try SubmittedBody(serializedBytes: body))
            case .submittedAck: return .submittedAck(try SubmittedAckBody(serializedBytes: body))
            case .result: return .result(try ResultBody(serializedBytes: body))
            case .resultAck: return .resultAck(try ResultAckBody(serializedBytes: body))
            case .cancel: return .cancel(try CancelBody(serializedBytes: body))
            case .drain: return .drain(try DrainBody(serializedBytes: body))
            case .disconnect: return .disconnect(try DisconnectBody(serializedBytes: body))
            }
        } catch {
            throw .badBody(command: command, reason: "\(error)")
        }
    }
}

/// Why a received message was dropped; logged with the peer, never fatal.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    case frameCount(Int)
    case badSignature([UInt8])
    case unsupportedVersion(UInt8)
    case unknownCommand(String)
    case badBody(command: WireCommand, reason: String)

    public var description: String {
        switch self {
        case .frameCount(let count): "expected 3 frames (signature, command, body), got \(count)"
        case .badSignature(let bytes): "not a Keyfarm message (first frame starts \(bytes.map { String(format: "%02x", $0) }.joined(separator: " ")))"
        case .unsupportedVersion(let version): "protocol version \(version) is not supported (this side speaks 1)"
        case .unknownCommand(let name): "unknown command \"\(name)\""
        case .badBody(let command, let reason): "\(command.rawValue) body does not decode: \(reason)"
        }
    }
}

extension WireMessage {
    /// A readable name for a routing identity in logs: printable ASCII as is, else hex.
    public static func describe(identity: [UInt8]) -> String {
        if !identity.isEmpty, identity.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return String(decoding: identity, as: UTF8.self) }
        return "0x" + identity.map { String(format: "%02x", $0) }.joined()
    }

    /// Microseconds since 1970 on this machine's clock, for latency figures.
    public static func nowMicroseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }
}
