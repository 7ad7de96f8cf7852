//! Rebuilds the crate when a migration is added or removed: `sqlx::migrate!` lists the
//! migration folders at compile time, and on stable Rust cargo does not watch them, so a
//! build after adding a migration would otherwise embed the old list.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
