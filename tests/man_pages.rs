//! The man pages in man/ and the shell completions in completions/ are rendered from the clap
//! definitions and must stay fresh.
//! Regenerate both with `SLUICE_BLESS=1 cargo test --release --test man_pages`.

use clap::CommandFactory;

fn commands() -> [(&'static str, clap::Command); 7] {
    [
        ("extract", sluice_extract::Args::command()),
        ("load", sluice_load::Args::command()),
        ("produce", sluice_produce::Args::command()),
        ("consume", sluice_consume::Args::command()),
        ("filter", sluice_filter::Args::command()),
        ("transform", sluice_transform::Args::command()),
        ("compact", sluice_compact::Args::command()),
    ]
}

/// Writes `rendered` to `path` under SLUICE_BLESS; otherwise fails unless `path` holds it.
fn check_fresh(path: &str, rendered: &[u8]) {
    if std::env::var_os("SLUICE_BLESS").is_some() {
        let parent = std::path::Path::new(path).parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        std::fs::write(path, rendered).unwrap();
        return;
    }
    let committed = std::fs::read(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{path} is stale: run SLUICE_BLESS=1 cargo test --release --test man_pages"
    );
}

#[test]
fn man_pages_match_the_command_definitions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/man");
    for (name, command) in commands() {
        check_fresh(&format!("{dir}/{name}.1"), &sluice_cli::man_page(command));
    }
}

#[test]
fn shell_completions_match_the_command_definitions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/completions");
    for (name, command) in commands() {
        for shell in sluice_cli::COMPLETION_SHELLS {
            let script = sluice_cli::completion(command.clone(), shell);
            assert!(
                String::from_utf8_lossy(&script).contains("metrics-file"),
                "{name} {shell}"
            );
            check_fresh(
                &format!("{dir}/{}", sluice_cli::completion_path(shell, name)),
                &script,
            );
        }
    }
}

#[test]
fn every_man_page_documents_exit_status_and_examples() {
    for (_, command) in commands() {
        let page = String::from_utf8(sluice_cli::man_page(command)).unwrap();
        assert!(page.contains("Exit status"), "{page}");
        assert!(page.contains("Examples"), "{page}");
    }
}

#[test]
fn bash_completes_options_from_the_committed_script() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/bash/extract");
    let complete = format!(
        "source '{script}'; COMP_LINE='extract --metr'; COMP_POINT=${{#COMP_LINE}}; \
         COMP_WORDS=(extract --metr); COMP_CWORD=1; _extract extract --metr extract; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &complete])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "--metrics-file"
    );
}
