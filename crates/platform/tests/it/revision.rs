//! Revision hashes and the JSON Schema.

use crate::platform;

const FILE: &str = r#"
[services.search]
builtin = "search"
replicas = 2
env = { RUST_LOG = "info" }
"#;

fn hash(text: &str) -> String {
    platform(text).services[0].revision_hash()
}

#[test]
fn revision_hash_is_stable_and_counts_what_makes_a_revision() {
    let h = hash(FILE);
    // A literal: the same in every run, on every machine.
    assert_eq!(h, "d1431e7202a224b2");
    assert_eq!(h.len(), 16);
    // Scaling and supervisor policy are not a new revision.
    for same in [
        FILE.replace("replicas = 2", "replicas = 5"),
        FILE.replace(
            "replicas = 2",
            "replicas = 2\nrestart = \"never\"\ndrain = \"3s\"",
        ),
        FILE.replace(
            "replicas = 2",
            "readiness_timeout = \"1m\"\nstop_timeout = \"1s\"",
        ),
    ] {
        assert_eq!(hash(&same), h, "{same}");
    }
    // What the processes run with is.
    for changed in [
        FILE.replace("\"info\"", "\"debug\""),
        FILE.replace("replicas = 2", "workdir = \"sub\""),
        FILE.replace("replicas = 2", "health = { kind = \"tcp\" }"),
        FILE.replace("replicas = 2", "health = { interval = \"2s\" }"),
        FILE.replace("replicas = 2", "config_prefix = \"other/\""),
        FILE.replace("replicas = 2", "register_as = \"geo\""),
        FILE.replace("builtin = \"search\"", "command = [\"search\"]"),
    ] {
        assert_ne!(hash(&changed), h, "{changed}");
    }
    // Registration settings of a command are, and leave older hashes alone by default.
    let command = "[services.x]\ncommand = [\"x\"]\n";
    for changed in [
        "register = \"self\"\n",
        "tags = [\"v1\"]\n",
        "meta = { team = \"maps\" }\n",
        "metrics_path = \"/metrics\"\n",
    ] {
        assert_ne!(
            hash(&format!("{command}{changed}")),
            hash(command),
            "{changed}"
        );
    }
    assert_eq!(
        hash(&format!("{command}register = \"supervisor\"\ntags = []\n")),
        hash(command)
    );
    // Arguments are delimited: ["a", "bc"] is not ["ab", "c"].
    assert_ne!(
        hash("[services.x]\ncommand = [\"a\", \"bc\"]\n"),
        hash("[services.x]\ncommand = [\"ab\", \"c\"]\n")
    );
}

#[test]
fn json_schema_is_json_and_describes_the_file() {
    let text = tern_platform::json_schema();
    let schema: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(text.contains("\"services\""));
    assert!(schema["$defs"]["service"]["properties"]["replicas"].is_object());
}
