import Foundation
import SipWakeFFI

/// The sipwake client library: X-MPUSH / X-PIID headers for REGISTER, RFC 8599
/// Contact parameters, Feature-Caps, and parsing of the pushes the gateway
/// sends (PushKit / APNs, FCM). Pure functions, safe from any thread.
public enum SipWake {
    // MARK: X-MPUSH

    /// The validated X-MPUSH header value, e.g. `i:com.example.voip:<token hex>`.
    public static func mpushHeader(_ binding: MpushBinding) throws -> String {
        try withStr(binding.package) { pkg in
            try withStr(binding.token) { tok in
                try callString { sipwake_mpush_header(binding.env.code, binding.provider.code, pkg, tok, $0) }
            }
        }
    }

    /// Convenience: `mpushHeader(MpushBinding(env:provider:package:token:))`.
    public static func mpushHeader(
        env: PushEnv = .default, provider: PushProvider, package: String, token: String
    ) throws -> String {
        try mpushHeader(MpushBinding(env: env, provider: provider, package: package, token: token))
    }

    /// Parses an X-MPUSH header value (without `X-MPUSH:`).
    public static func parseMpush(_ value: String) throws -> Mpush {
        try decode(withStr(value) { v in try callString { sipwake_parse_mpush(v, $0) } })
    }

    /// The PushKit / APNs device token as the lowercase hex the gateway expects.
    public static func tokenHex(_ token: Data) -> String {
        token.map { String(format: "%02x", $0) }.joined()
    }

    // MARK: X-PIID

    /// X-PIID: lowercase hex md5(username ":" realm ":" password).
    public static func computePiid(username: String, realm: String, password: String) throws -> String {
        try withStr(username) { u in
            try withStr(realm) { r in
                try withStr(password) { p in try callString { sipwake_compute_piid(u, r, p, $0) } }
            }
        }
    }

    /// Constant-time check of an X-PIID value.
    public static func verifyPiid(_ piid: String, username: String, realm: String, password: String) throws -> Bool {
        try withStr(piid) { x in
            try withStr(username) { u in
                try withStr(realm) { r in
                    try withStr(password) { p in
                        var ok = false
                        try check(sipwake_verify_piid(x, u, r, p, &ok))
                        return ok
                    }
                }
            }
        }
    }

    // MARK: RFC 8599

    /// Push parameters of a Contact URI or name-addr; nil when it has none.
    public static func parsePnParams(_ contact: String) throws -> PnParams? {
        try decode(withStr(contact) { c in try callString { sipwake_parse_pn_params(c, $0) } })
    }

    /// `;pn-provider=…;pn-param=…;pn-prid=…` (%-escaped) to append to a Contact URI.
    public static func formatPnParams(_ p: PnParams) throws -> String {
        try withPn(p) { prov, param, prid, purr in
            try callString { sipwake_format_pn_params(prov, param, prid, purr, $0) }
        }
    }

    /// The X-MPUSH equivalent of RFC 8599 parameters.
    public static func pnToMpush(_ p: PnParams) throws -> Mpush {
        try decode(withPn(p) { prov, param, prid, purr in
            try callString { sipwake_pn_to_mpush(prov, param, prid, purr, $0) }
        })
    }

    /// The RFC 8599 equivalent of a binding.
    public static func mpushToPn(_ b: MpushBinding) throws -> PnParams {
        try decode(withStr(b.package) { pkg in
            try withStr(b.token) { tok in
                try callString { sipwake_mpush_to_pn(b.env.code, b.provider.code, pkg, tok, $0) }
            }
        })
    }

    // MARK: Feature-Caps

    /// Parses a Feature-Caps header value (e.g. from the REGISTER 200 OK).
    public static func parseFeatureCaps(_ value: String) throws -> FeatureCaps {
        try decode(withStr(value) { v in try callString { sipwake_parse_feature_caps(v, $0) } })
    }

    /// Formats a Feature-Caps header value.
    public static func formatFeatureCaps(_ caps: FeatureCaps) throws -> String {
        try withStrs(caps.pns) { pns in
            try withOptStr(caps.pnspurr) { purr in
                try pns.withUnsafeBufferPointer { buf in
                    try callString {
                        sipwake_format_feature_caps(buf.baseAddress, buf.count, caps.pnsreg,
                                                    caps.pnsregSeconds.map { Int64($0) } ?? -1, purr, $0)
                    }
                }
            }
        }
    }

    // MARK: Push payloads

    /// Parses the payload PushKit hands to
    /// `pushRegistry(_:didReceiveIncomingPushWith:for:completion:)`
    /// (`payload.dictionaryPayload`), or a `UNNotification`'s `userInfo`.
    public static func parsePush(payload: [AnyHashable: Any]) throws -> PushNotification {
        // Keys of a JSON payload are strings; anything else cannot come from APNs.
        var object: [String: Any] = [:]
        for (k, v) in payload {
            if let key = k as? String { object[key] = v }
        }
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object),
              let json = String(data: data, encoding: .utf8)
        else {
            throw SipWakeError(status: 3, message: "push payload: not representable as JSON")
        }
        return try parsePush(json: json)
    }

    /// Parses a push payload given as JSON text (APNs, FCM data or Web Push shape; detected).
    public static func parsePush(json: String) throws -> PushNotification {
        try decode(withStr(json) { j in try callString { sipwake_parse_push(j, $0) } })
    }

    /// Parses an APNs / PushKit payload given as JSON text.
    public static func parseApns(json: String) throws -> PushNotification {
        try decode(withStr(json) { j in try callString { sipwake_parse_apns(j, $0) } })
    }

    /// Parses an FCM data map (iOS apps using FCM, provider `j`).
    public static func parseFcmData(_ data: [String: String]) throws -> PushNotification {
        let keys = Array(data.keys)
        return try withStrs(keys) { ks in
            try withStrs(keys.map { data[$0] ?? "" }) { vs in
                let pairs = zip(ks, vs).map { SipwakeKeyValue(key: $0, value: $1) }
                return try decode(pairs.withUnsafeBufferPointer { buf in
                    try callString { sipwake_parse_fcm_data(buf.baseAddress, buf.count, $0) }
                })
            }
        }
    }
}

// MARK: - C marshalling

/// Runs `body` with a `SipwakeStr` over the UTF-8 of `s`. `utf8CString` always
/// holds at least the NUL terminator, so the pointer is never NULL (the ABI
/// rejects NULL even for ""), and NULs inside `s` are passed as data.
func withStr<R>(_ s: String, _ body: (SipwakeStr) throws -> R) rethrows -> R {
    let bytes = s.utf8CString
    return try bytes.withUnsafeBufferPointer { buf in
        try body(SipwakeStr(ptr: buf.baseAddress, len: buf.count - 1))
    }
}

/// Optional string: a pointer to a `SipwakeStr`, or nil (absent).
func withOptStr<R>(_ s: String?, _ body: (UnsafePointer<SipwakeStr>?) throws -> R) rethrows -> R {
    guard let s = s else { return try body(nil) }
    return try withStr(s) { str in try withUnsafePointer(to: str) { try body($0) } }
}

/// Several strings at once: nests `withStr` so every byte buffer stays
/// valid until `body` returns.
func withStrs<R>(_ strings: [String], _ body: ([SipwakeStr]) throws -> R) throws -> R {
    func nest(_ i: Int, _ done: [SipwakeStr]) throws -> R {
        if i == strings.count { return try body(done) }
        return try withStr(strings[i]) { s in try nest(i + 1, done + [s]) }
    }
    return try nest(0, [])
}

private func withPn<R>(
    _ p: PnParams,
    _ body: (SipwakeStr, UnsafePointer<SipwakeStr>?, UnsafePointer<SipwakeStr>?, UnsafePointer<SipwakeStr>?) throws -> R
) throws -> R {
    try withStr(p.provider) { prov in
        try withOptStr(p.param) { param in
            try withOptStr(p.prid) { prid in
                try withOptStr(p.purr) { purr in try body(prov, param, prid, purr) }
            }
        }
    }
}

private func check(_ status: UInt32) throws {
    guard status == 0 else {
        let message = sipwake_last_error_message().map { String(cString: $0) } ?? "sipwake error \(status)"
        throw SipWakeError(status: status, message: message)
    }
}

/// Calls a function with a `char **out` result and takes ownership of it.
private func callString(_ f: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> UInt32) throws -> String {
    var out: UnsafeMutablePointer<CChar>? = nil
    try check(f(&out))
    guard let p = out else { throw SipWakeError(status: 3, message: "sipwake: no result") }
    defer { sipwake_string_free(p) }
    return String(cString: p)
}

private func decode<T: Decodable>(_ json: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(json.utf8))
}
