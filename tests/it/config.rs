//! Configuration: every mistake reported at once before anything starts, the example file
//! works as shipped, and the sources apply in their documented order.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/guichet.example.toml");

#[test]
fn an_invalid_configuration_lists_every_problem_and_exits_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = Command::new(BIN);
    command.args(["serve", "--set", "log.level=loud", "--data-dir"]).arg(&data);
    command.env("GUICHET_HTTP__BIND", "nowhere").current_dir(dir.path());
    let run = run(command);
    assert_eq!(run.status.code(), Some(2), "{}", run.text());
    let problems: Vec<&str> = run.stderr.lines().filter(|l| l.trim_start().starts_with("- ")).collect();
    assert_eq!(problems.len(), 2, "both problems, and only them: {}", run.text());
    let bind = problems.iter().find(|p| p.contains("[http] bind")).expect("the bind address is reported");
    assert!(bind.contains("GUICHET_HTTP__BIND") && bind.contains("nowhere"), "named after its source: {bind}");
    let level = problems.iter().find(|p| p.contains("[log] level")).expect("the log level is reported");
    assert!(level.contains("--set log.level"), "named after its source: {level}");
    assert!(!data.exists() && !dir.path().join("guichet-data").exists(), "nothing was created");
}

#[test]
fn a_configuration_file_with_mistakes_is_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guichet.toml");
    std::fs::write(
        &file,
        "[http]\nbnd = \"127.0.0.1:0\"\nmax_body_kib = -4\n[attachments]\nallowed_types = [\"text/html\"]\n",
    )
    .unwrap();
    let mut command = Command::new(BIN);
    command.arg("serve").arg("--config").arg(&file).arg("--data-dir").arg(dir.path().join("data"));
    let run = run(command);
    assert_eq!(run.status.code(), Some(2), "{}", run.text());
    for expected in ["bnd: unknown key (did you mean bind?)", "max_body_kib", "text/html"] {
        assert!(run.stderr.contains(expected), "{expected:?} not reported: {}", run.text());
    }
    assert!(run.stderr.contains(&file.display().to_string()), "the file is named: {}", run.text());
}

#[tokio::test]
async fn the_example_configuration_starts_as_shipped() {
    let s = Server::start(&["--config", EXAMPLE]).await;
    assert_eq!(s.get("/healthz", None).await.0, 200);
    assert_eq!(s.get("/readyz", None).await.0, 200);
    let (status, categories) = s.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    assert!(categories.as_array().unwrap().iter().any(|c| c["id"] == "voirie"), "seeded: {categories}");
    let created = s.submit("avec la configuration d'exemple").await;
    assert_eq!(created["acknowledgement"]["collectivite"], "Commune de Guichet");
    let mode = |name: &str| std::fs::metadata(s.data.join(name)).unwrap().permissions().mode();
    assert_eq!(mode("instance.key") & 0o777, 0o600, "the instance key is private");
    assert_eq!(mode("admin.sock") & 0o777, 0o600, "so is the admin socket");
}

#[tokio::test]
async fn the_environment_overrides_the_file_and_flags_override_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guichet.toml");
    std::fs::write(&file, "[instance]\nname = \"Ville du fichier\"\ncontact_phone = \"03 88 00 00 01\"\n").unwrap();
    let config = file.to_str().unwrap();
    let from_file = Server::start(&["--config", config]).await;
    let a = from_file.submit("x").await["acknowledgement"].clone();
    assert_eq!(a["collectivite"], "Ville du fichier", "{a}");
    assert_eq!(a["department"]["phone"], "03 88 00 00 01", "the town hall's number stands in: {a}");
    drop(from_file);

    let env = [("GUICHET_INSTANCE__NAME", "Ville de l'environnement")];
    let from_env = Server::start_with_env(&["--config", config], &env).await;
    assert_eq!(from_env.submit("x").await["acknowledgement"]["collectivite"], "Ville de l'environnement");
    drop(from_env);

    let flagged = Server::start_with_env(&["--config", config, "--set", "instance.name=Ville du drapeau"], &env).await;
    assert_eq!(flagged.submit("x").await["acknowledgement"]["collectivite"], "Ville du drapeau");
}
