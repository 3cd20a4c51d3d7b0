//! `sipwake-mocks [DIR]`: runs the FCM, APNs and Web Push mocks on loopback
//! for manual runs and benchmarks. Writes the credentials a gateway needs to
//! DIR (default `./sipwake-mocks`), prints the URLs, and runs until Ctrl-C.

use std::path::PathBuf;

use sipwake_mocks::{apns::ApnsMock, fcm::FcmMock, webpush::WebPushMock};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "sipwake-mocks".into()),
    );
    if dir.to_str() == Some("--help") {
        println!(
            "usage: sipwake-mocks [DIR]  (writes fcmkey.json, apns-ca.pem, apns.p8, pushkit.pem, webpush-ca.pem)"
        );
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let fcm = FcmMock::start("sipwake-mock").await?;
    let apns = ApnsMock::start().await?;
    let web = WebPushMock::start().await?;
    std::fs::write(dir.join("fcmkey.json"), fcm.service_account_json())?;
    std::fs::write(dir.join("apns-ca.pem"), apns.ca_pem())?;
    std::fs::write(dir.join("apns.p8"), apns.p8_pem())?;
    std::fs::write(
        dir.join("pushkit.pem"),
        apns.client_cert("org.sipwake.demo")?.pem,
    )?;
    std::fs::write(dir.join("webpush-ca.pem"), web.ca_pem())?;
    let sub = web.subscribe();
    println!("fcm      {} (project sipwake-mock)", fcm.base_url());
    println!(
        "apns     {} (key id {}, team id {})",
        apns.base_url(),
        sipwake_mocks::apns::KEY_ID,
        sipwake_mocks::apns::TEAM_ID
    );
    println!(
        "webpush  {} (sample subscription: {})",
        web.base_url(),
        serde_json::to_string(&sub)?
    );
    println!("credentials in {}", dir.display());
    tokio::signal::ctrl_c().await?;
    println!(
        "received: fcm {}, apns {}, webpush {}",
        fcm.received().len(),
        apns.received().len(),
        web.received().len()
    );
    Ok(())
}
