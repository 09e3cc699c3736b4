//! `tern registry` as a process: state journaled to the data directory survives `kill -9`
//! (every write acknowledged with 200 is there after a restart) and checks resume.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::{eventually, http, RegistryProcess};

#[test]
fn acknowledged_writes_survive_kill_9_and_checks_resume() {
    let data = tempfile::tempdir().expect("temp dir");
    let registry = RegistryProcess::start(data.path());
    let target = TcpListener::bind("127.0.0.1:0").expect("bind a check target");
    let target_addr = target.local_addr().expect("target addr");
    let registration = format!(
        r#"{{"Name":"durable","ID":"durable-1","Port":{},"Check":{{"TCP":"{target_addr}","Interval":"1s"}}}}"#,
        target_addr.port()
    );
    let (status, body) = http(
        registry.http,
        "PUT",
        "/v1/agent/service/register",
        &registration,
    )
    .expect("register");
    assert_eq!(status, 200, "{body}");

    // Writers keep going while the registry is killed; only 200 "true" counts as acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (acknowledged, stop, addr) = (acknowledged.clone(), stop.clone(), registry.http);
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("durable/{writer}/{n}");
                    match http(addr, "PUT", &format!("/v1/kv/{key}"), &format!("value-{n}")) {
                        Ok((200, body)) if body.trim() == "true" => {
                            acknowledged.lock().expect("ack list").push(key)
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    eventually("200 acknowledged writes", || {
        let n = acknowledged.lock().expect("ack list").len();
        (n < 200).then(|| format!("{n} acknowledged"))
    });
    registry.kill_9();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }

    let registry = RegistryProcess::start(data.path());
    let acknowledged = acknowledged.lock().expect("ack list").clone();
    for key in &acknowledged {
        let n = key.rsplit('/').next().expect("key has a number");
        let (status, body) =
            http(registry.http, "GET", &format!("/v1/kv/{key}?raw"), "").expect("read back");
        assert_eq!(
            (status, body.as_str()),
            (200, format!("value-{n}").as_str()),
            "acknowledged key {key} after kill -9 (of {} acknowledged)",
            acknowledged.len()
        );
    }
    eventually("the TCP check to pass again after the restart", || {
        let (_, body) = http(
            registry.http,
            "GET",
            "/v1/health/service/durable?passing",
            "",
        )
        .ok()?;
        (!body.contains("durable-1")).then_some(body)
    });
    drop(target);
}
