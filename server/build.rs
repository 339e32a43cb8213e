//! Migrations are embedded at compile time by `sqlx::migrate!`; without this, adding a
//! migration file alone would not rebuild the server and the new migration would be missing.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
