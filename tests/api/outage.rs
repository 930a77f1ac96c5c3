//! A PostgreSQL outage, staged with a TCP proxy between the service and the
//! shared server (which keeps running): health follows the database, calls
//! fail fast with UNAVAILABLE, the service recovers by itself with nothing
//! acknowledged lost, and start-up waits for a database that is not up yet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadqual::proto::v1 as pb;
use leadqual::startup::Application;
use pb::Stage;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::helpers::{
    AppOptions, Auth, Backend, Clients, TestDatabase, connect, postgres_admin_url, qualify_request,
    settings,
};

/// Forwards connections to PostgreSQL until told the database is "down":
/// then it cuts every open connection and refuses new ones.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accepting: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let accepting = tokio::spawn({
            let (down, open) = (down.clone(), open.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let forward = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    open.lock().expect("lock").push(forward);
                }
            }
        });
        Proxy {
            port,
            down,
            open,
            _accepting: accepting,
        }
    }

    fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for forward in self.open.lock().expect("lock").drain(..) {
            forward.abort();
        }
    }

    fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// host:port of the PostgreSQL the tests use, and `url` through the proxy.
fn through(url: &str, proxy_port: u16) -> (String, String) {
    let admin = postgres_admin_url();
    let after_scheme = admin.split_once("://").map_or(admin.as_str(), |(_, r)| r);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let proxied = url.replacen(&host_port, &format!("127.0.0.1:{proxy_port}"), 1);
    assert_ne!(proxied, url, "the database URL names {host_port}");
    (host_port, proxied)
}

async fn health(channel: &tonic::transport::Channel) -> i32 {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "leadqual.v1.LeadQualificationService".into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

/// Waits up to `limit` for health to report `wanted`; how long it took.
async fn health_becomes(
    channel: &tonic::transport::Channel,
    wanted: ServingStatus,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    while health(channel).await != wanted as i32 {
        assert!(
            started.elapsed() < limit,
            "health is not {wanted:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

fn request(lead: &str, request_id: &str) -> pb::QualifyLeadRequest {
    let mut request = qualify_request(
        lead,
        Stage::Contact,
        pb::LeadFacts {
            employee_count: Some(40),
            ..Default::default()
        },
    );
    request.request_id = request_id.to_owned();
    request
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn health_follows_the_database_and_calls_fail_fast_then_recover() {
        let mut database = TestDatabase::create(Backend::Postgres).await;
        let (upstream, _) = through(&database.url, 1);
        let proxy = Proxy::start(upstream).await;
        database.url = through(&database.url, proxy.port).1;

        let app = Application::build(&settings(&database.url, &AppOptions::default()))
            .await
            .expect("starts");
        let port = app.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let channel = connect(port).await;
        let mut clients = Clients::new(&channel, Auth::none());

        let before = clients
            .client
            .qualify_lead(request("steady", "before-outage"))
            .await
            .expect("qualified while the database is up")
            .into_inner();
        assert_eq!(health(&channel).await, ServingStatus::Serving as i32);

        proxy.go_down();
        let flipped =
            health_becomes(&channel, ServingStatus::NotServing, Duration::from_secs(5)).await;
        let started = Instant::now();
        let failed = clients
            .client
            .qualify_lead(request("steady", "during-outage"))
            .await
            .expect_err("the database is down");
        let failed_after = started.elapsed();
        assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
        assert!(failed_after < Duration::from_secs(1), "{failed_after:?}");
        // Health and reflection need no database.
        assert_eq!(health(&channel).await, ServingStatus::NotServing as i32);

        proxy.come_back();
        let recovered =
            health_becomes(&channel, ServingStatus::Serving, Duration::from_secs(5)).await;
        // No call fails on a connection that died with the outage.
        for i in 0..20 {
            clients
                .client
                .qualify_lead(request(&format!("after-{i}"), &format!("after-{i}")))
                .await
                .unwrap_or_else(|e| panic!("call {i} after recovery: {e:?}"));
        }
        // What was acknowledged before is there, exactly once.
        let replayed = clients
            .client
            .qualify_lead(request("steady", "before-outage"))
            .await
            .expect("replayed")
            .into_inner();
        assert!(replayed.replayed);
        assert_eq!(
            replayed.verdict.map(|v| v.verdict_id),
            before.verdict.map(|v| v.verdict_id)
        );
        println!(
            "outage: NOT_SERVING after {flipped:?}; a call failed in {failed_after:?}; \
             SERVING again {recovered:?} after the database returned"
        );

        // A blip shorter than a probe: cut every connection, back at once.
        proxy.go_down();
        proxy.come_back();
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        for i in 0..20 {
            clients
                .client
                .get_lead(pb::GetLeadRequest {
                    lead_id: format!("after-{i}"),
                })
                .await
                .unwrap_or_else(|e| panic!("read {i} after a blip: {e:?}"));
        }

        let _ = stop.send(());
        server.await.expect("joins").expect("stops cleanly");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_up_waits_for_the_database_and_names_the_cause_when_it_gives_up() {
        let mut database = TestDatabase::create(Backend::Postgres).await;
        let (upstream, _) = through(&database.url, 1);
        let proxy = Proxy::start(upstream).await;
        database.url = through(&database.url, proxy.port).1;
        proxy.go_down();

        // Gives up after the wait, with the cause, not a pool timeout.
        let mut short = settings(&database.url, &AppOptions::default());
        short.database_wait = Duration::from_millis(500);
        let started = Instant::now();
        let error = match Application::build(&short).await {
            Ok(_) => panic!("started without a database"),
            Err(error) => format!("{error:#}"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            error.contains("cannot connect to PostgreSQL at 127.0.0.1"),
            "{error}"
        );
        assert!(!error.contains("pool timed out"), "{error}");

        // Comes up once the database does, within the wait.
        let mut patient = settings(&database.url, &AppOptions::default());
        patient.database_wait = Duration::from_secs(30);
        let comes_back = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            proxy.come_back();
        };
        let (built, ()) = tokio::join!(Application::build(&patient), comes_back);
        built.expect("started once the database answered");
    }
}
