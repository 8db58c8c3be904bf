//! The man pages in man/ are rendered from the clap definitions and must stay fresh.
//! Regenerate with `SLUICE_BLESS=1 cargo test --release --test man_pages`.

use clap::CommandFactory;

#[test]
fn man_pages_match_the_command_definitions() {
    let pages = [
        ("extract", sluice_extract::Args::command()),
        ("load", sluice_load::Args::command()),
        ("produce", sluice_produce::Args::command()),
        ("consume", sluice_consume::Args::command()),
        ("filter", sluice_filter::Args::command()),
        ("transform", sluice_transform::Args::command()),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/man");
    for (name, command) in pages {
        let page = sluice_cli::man_page(command);
        let path = format!("{dir}/{name}.1");
        if std::env::var_os("SLUICE_BLESS").is_some() {
            std::fs::write(&path, &page).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == page,
            "{path} is stale: run SLUICE_BLESS=1 cargo test --release --test man_pages"
        );
    }
}

#[test]
fn every_man_page_documents_exit_status_and_examples() {
    for command in [
        sluice_extract::Args::command(),
        sluice_load::Args::command(),
        sluice_produce::Args::command(),
        sluice_consume::Args::command(),
        sluice_filter::Args::command(),
        sluice_transform::Args::command(),
    ] {
        let page = String::from_utf8(sluice_cli::man_page(command)).unwrap();
        assert!(page.contains("Exit status"), "{page}");
        assert!(page.contains("Examples"), "{page}");
    }
}
