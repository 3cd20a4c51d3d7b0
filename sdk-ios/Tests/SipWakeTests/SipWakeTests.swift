import XCTest
@testable import SipWake

/// Runs on macOS / iOS simulators with the XCFramework built; the shared
/// vectors run against the same C ABI on Linux in scripts/test-ios.sh.
final class SipWakeTests: XCTestCase {
    func testMpushRoundTrip() throws {
        let b = MpushBinding(env: .sandbox, provider: .apns, package: "com.example.voip", token: "00fc13ad")
        let header = try SipWake.mpushHeader(b)
        XCTAssertEqual(header, "s:i:com.example.voip:00fc13ad")
        XCTAssertEqual(try SipWake.parseMpush(header), .bind(b))
        XCTAssertEqual(try SipWake.parseMpush("null"), .remove)
    }

    func testErrorsCarryTheMessage() {
        XCTAssertThrowsError(try SipWake.parseMpush("x:pkg:tok")) { error in
            let e = error as? SipWakeError
            XCTAssertEqual(e?.status, 4)
            XCTAssertTrue(e?.message.contains("unknown provider") ?? false)
        }
    }

    func testPushKitPayload() throws {
        let payload: [AnyHashable: Any] = [
            "aps": ["alert": ["title": "Call from 1111"]],
            "ntype": 0, "nfrom": "sip:1111@example.com", "ncallid": "abc@host", "nfromusername": "1111",
        ]
        let n = try SipWake.parsePush(payload: payload)
        XCTAssertEqual(n.kind, .call)
        XCTAssertEqual(n.callId, "abc@host")
        XCTAssertEqual(n.title, "Call from 1111")
    }

    func testTokenHexAndEmptyStrings() throws {
        XCTAssertEqual(SipWake.tokenHex(Data([0x00, 0xfc, 0x13])), "00fc13")
        // "" must reach the ABI as a non-NULL pointer and be rejected by the core, not as NULL.
        XCTAssertThrowsError(try SipWake.parseMpush("")) { error in
            XCTAssertEqual((error as? SipWakeError)?.status, 4)
        }
    }

    func testFeatureCaps() throws {
        let caps = try SipWake.parseFeatureCaps("*;+sip.pns=\"apns\";+sip.pnsreg=\"120\"")
        XCTAssertTrue(caps.supports("APNS"))
        XCTAssertEqual(caps.pnsregSeconds, 120)
        XCTAssertEqual(try SipWake.parseFeatureCaps(SipWake.formatFeatureCaps(caps)), caps)
    }

    func testFcmDataMap() throws {
        let n = try SipWake.parseFcmData(["ntype": "1", "nmsg": "hi", "nfrom": "Bob"])
        XCTAssertEqual(n.kind, .chat)
        XCTAssertEqual(n.msg, "hi")
    }
}
