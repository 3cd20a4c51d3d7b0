import Foundation

/// The optional environment field of X-MPUSH (`d`, `s`, `p`).
public enum PushEnv: String, Codable, Sendable {
    /// No env field: the gateway's configured default.
    case `default`
    /// `s`: APNs sandbox (development builds, Xcode runs).
    case sandbox
    /// `p`: production (App Store, TestFlight).
    case production

    /// The C ABI code (`SipwakeEnv`).
    var code: UInt32 {
        switch self {
        case .default: return 0
        case .sandbox: return 1
        case .production: return 2
        }
    }
}

/// The push provider letter of X-MPUSH.
public enum PushProvider: String, Codable, Sendable {
    /// `a`: Android through FCM.
    case androidFcm = "a"
    /// `i`: iOS through APNs / PushKit (the usual choice for VoIP apps).
    case apns = "i"
    /// `j`: iOS through FCM.
    case iosFcm = "j"
    /// `w`: Web Push.
    case webPush = "w"

    /// The C ABI code (`SipwakeProvider`).
    var code: UInt32 {
        switch self {
        case .androidFcm: return 0
        case .apns: return 1
        case .iosFcm: return 2
        case .webPush: return 3
        }
    }
}

/// One app instance's push address: `X-MPUSH: [env:]provider:package:token`.
public struct MpushBinding: Codable, Equatable, Sendable {
    public var env: PushEnv
    public var provider: PushProvider
    public var package: String
    public var token: String

    public init(env: PushEnv = .default, provider: PushProvider, package: String, token: String) {
        self.env = env
        self.provider = provider
        self.package = package
        self.token = token
    }
}

/// A parsed X-MPUSH value.
public enum Mpush: Decodable, Equatable, Sendable {
    case bind(MpushBinding)
    /// The literal `null`: the app asks to stop push.
    case remove

    private enum Keys: String, CodingKey { case remove }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        if try c.decode(Bool.self, forKey: .remove) {
            self = .remove
        } else {
            self = .bind(try MpushBinding(from: decoder))
        }
    }
}

/// RFC 8599 push parameters of a Contact URI.
public struct PnParams: Codable, Equatable, Sendable {
    /// `apns`, `fcm`, `webpush` or another (lowercased) name.
    public var provider: String
    public var param: String?
    public var prid: String?
    public var purr: String?

    public init(provider: String, param: String? = nil, prid: String? = nil, purr: String? = nil) {
        self.provider = provider
        self.param = param
        self.prid = prid
        self.purr = purr
    }

    /// `pn-prid=null`: the device asks to stop push.
    public var isRemove: Bool { prid == "null" }
}

/// What a push is for: the manual's `ntype`.
public enum NotificationKind: Equatable, Sendable {
    case call, chat, cancel, custom, registerRefresh
    case other(Int64)
}

/// A parsed push payload. Absent strings are `""`. (Not named `Notification`:
/// that would clash with Foundation.Notification in every app.)
public struct PushNotification: Decodable, Equatable, Sendable {
    /// The raw ntype (0 call, 1 chat, 2 cancel, 3 custom, 4 register refresh).
    public let ntype: Int64
    public let kindName: String
    /// Caller URI (`nfrom`).
    public let from: String
    public let fromUsername: String
    public let fromDisplay: String
    /// Chat text (`nmsg`).
    public let msg: String
    /// SIP Call-ID of the call that triggered the push (`ncallid`).
    public let callId: String
    public let toUser: String
    public let title: String
    public let body: String
    public let sound: String

    public var kind: NotificationKind {
        switch ntype {
        case 0: return .call
        case 1: return .chat
        case 2: return .cancel
        case 3: return .custom
        case 4: return .registerRefresh
        default: return .other(ntype)
        }
    }

    private enum CodingKeys: String, CodingKey {
        case ntype = "kind"
        case kindName, from, fromUsername, fromDisplay, msg, callId, toUser, title, body, sound
    }
}

/// A Feature-Caps header (RFC 6809) with the RFC 8599 push indicators.
public struct FeatureCaps: Codable, Equatable, Sendable {
    /// `+sip.pns` services, lowercased.
    public var pns: [String]
    public var pnsreg: Bool
    /// `+sip.pnsreg` value: seconds before expiry the proxy wants a re-REGISTER.
    public var pnsregSeconds: UInt32?
    public var pnspurr: String?

    public init(pns: [String] = [], pnsreg: Bool = false, pnsregSeconds: UInt32? = nil, pnspurr: String? = nil) {
        self.pns = pns
        self.pnsreg = pnsreg || pnsregSeconds != nil
        self.pnsregSeconds = pnsregSeconds
        self.pnspurr = pnspurr
    }

    /// Whether `+sip.pns` lists the service (case-insensitive).
    public func supports(_ service: String) -> Bool {
        pns.contains { $0.caseInsensitiveCompare(service) == .orderedSame }
    }
}

/// A failed sipwake call: the C ABI status and the library's message.
public struct SipWakeError: Error, Equatable, CustomStringConvertible {
    /// A `SipwakeStatus` value (1 null pointer, 2 invalid UTF-8, 3 invalid
    /// argument, 4 X-MPUSH, 5 RFC 8599, 6 payload, 7 Feature-Caps, 8 template, 9 panic).
    public let status: UInt32
    public let message: String

    public var description: String { message }
}
