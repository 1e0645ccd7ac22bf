//! `sqlx::migrate!` embeds the migration folders at compile time; a new migration file must
//! trigger a rebuild too (sqlx's documented build script).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
