// Android library module `org.sipwake:sipwake` (Java wrapper + the Rust JNI
// library). Include it from your app's settings.gradle.kts:
//   include(":sipwake"); project(":sipwake").projectDir = file("path/to/sdk-android/android")
// Needs the Android NDK, rustup targets and cargo-ndk (see docs/sdk-android.md).
plugins {
    id("com.android.library") version "8.7.3"
}

android {
    namespace = "org.sipwake"
    compileSdk = 35
    defaultConfig {
        minSdk = 21
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
    // cargo-ndk writes lib<name>.so per ABI here.
    sourceSets["main"].jniLibs.srcDir(layout.buildDirectory.dir("rustJniLibs"))
}

dependencies {
    compileOnly("androidx.annotation:annotation:1.9.1")
}

val rustAbis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

// Builds libsipwake_android.so for every ABI with cargo-ndk. The release
// profile keeps panic = "unwind": the natives turn Rust panics into
// SipWakeException instead of aborting the app.
val cargoNdk by tasks.registering(Exec::class) {
    val crateDir = projectDir.parentFile
    workingDir = crateDir
    val out = layout.buildDirectory.dir("rustJniLibs").get().asFile
    commandLine(
        listOf("cargo", "ndk", "--platform", "21", "--output-dir", out.path) +
            rustAbis.flatMap { listOf("--target", it) } +
            listOf("build", "--release", "--lib", "-p", "sipwake-android")
    )
    inputs.dir(File(crateDir, "src"))
    inputs.dir(File(crateDir, "../core/src"))
    outputs.dir(out)
}

tasks.named("preBuild") { dependsOn(cargoNdk) }
