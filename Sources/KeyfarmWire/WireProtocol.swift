/// The protocol signature and version every message starts with: "KFP" and version 1.
public enum WireProtocol {
    public static let signature: [UInt8] = [0x4B, 0x46, 0x50, 0x01]
    public static let version: UInt8 = 1
}
