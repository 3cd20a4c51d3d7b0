fn main() {
    println!("sipwake {}", env!("CARGO_PKG_VERSION"));
}
