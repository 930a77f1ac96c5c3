//! Limits: calls beyond capacity are shed at once, a tenant over its rate is
//! told when to retry, deadlines end calls with DEADLINE_EXCEEDED, calls on
//! one lead wait their turn, and a request that is not protobuf is the
//! caller's error.

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use leadqual::auth::Role;
use leadqual::grpc::{Limits, RateLimit};
use leadqual::proto::v1 as pb;
use pb::Stage;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::helpers::{
    AppOptions, Backend, assert_code, qualify_request, spawn_app, spawn_app_with,
};

backend_tests!(
    calls_beyond_the_limit_are_shed_and_served_again_once_room_returns,
    watches_have_a_limit_of_their_own,
    a_tenant_over_its_rate_is_told_when_to_retry,
    an_expired_deadline_is_deadline_exceeded,
    calls_on_one_lead_wait_their_turn_instead_of_failing,
    a_request_that_is_not_protobuf_is_invalid_argument,
    an_oversized_message_is_refused,
);

fn limited(limits: Limits) -> AppOptions {
    AppOptions {
        limits,
        ..AppOptions::default()
    }
}

/// An open QualifyLeads stream that holds its room until `sender` drops.
async fn open_stream(
    client: &mut crate::helpers::QualificationClient,
) -> (
    mpsc::Sender<pb::QualifyLeadsRequest>,
    tonic::Streaming<pb::QualifyLeadsResponse>,
) {
    let (sender, items) = mpsc::channel(1);
    let results = client
        .qualify_leads(ReceiverStream::new(items))
        .await
        .expect("QualifyLeads opens")
        .into_inner();
    (sender, results)
}

async fn calls_beyond_the_limit_are_shed_and_served_again_once_room_returns(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limited(Limits {
            max_concurrent_calls: 2,
            ..Limits::default()
        }),
    )
    .await;
    let mut client = app.client.clone();
    let (first, _first_results) = open_stream(&mut client).await;
    let (second, mut second_results) = open_stream(&mut client).await;

    let shed = client
        .get_lead(pb::GetLeadRequest {
            lead_id: "anyone".into(),
        })
        .await
        .expect_err("no room for a third call");
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("limit of 2 calls"), "{shed:?}");
    assert_code(
        client.clone().qualify_leads(futures::stream::empty()).await,
        Code::ResourceExhausted,
        "a third stream",
    );

    // The stream still works while others are shed.
    second
        .send(pb::QualifyLeadsRequest {
            correlation_id: "one".into(),
            request: Some(qualify_request("held", Stage::Contact, Default::default())),
        })
        .await
        .expect("send");
    let result = second_results
        .message()
        .await
        .expect("a result")
        .expect("one");
    assert_eq!(result.correlation_id, "one");

    // Ending a stream gives its room back.
    drop(second);
    while second_results.message().await.expect("ends").is_some() {}
    let mut served = None;
    for _ in 0..50 {
        match client
            .get_lead(pb::GetLeadRequest {
                lead_id: "held".into(),
            })
            .await
        {
            Ok(lead) => {
                served = Some(lead.into_inner());
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
    assert!(served.is_some(), "served again once the stream ended");
    drop(first);
}

async fn watches_have_a_limit_of_their_own(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limited(Limits {
            max_concurrent_calls: 1,
            max_watches: 1,
            ..Limits::default()
        }),
    )
    .await;
    let mut client = app.client.clone();
    let _watch = client
        .watch_verdicts(pb::WatchVerdictsRequest::default())
        .await
        .expect("a watch");
    assert_code(
        client
            .watch_verdicts(pb::WatchVerdictsRequest::default())
            .await,
        Code::ResourceExhausted,
        "a second watch",
    );
    // A watch does not take the room of calls.
    client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("a call beside the watch");
}

async fn a_tenant_over_its_rate_is_told_when_to_retry(backend: Backend) {
    let mut app = spawn_app_with(
        backend,
        limited(Limits {
            rate_limit: RateLimit::new(1, Some(3)),
            ..Limits::default()
        }),
    )
    .await;
    let acme = app.issue_key("acme", &[Role::Reader]).await;
    let globex = app.issue_key("globex", &[Role::Reader]).await;
    app.use_key(&acme.secret);
    let mut refused = None;
    // A burst of 3, then about one a second: within 5 quick calls one is
    // refused.
    for _ in 0..5 {
        if let Err(status) = app.client.list_criteria(pb::ListCriteriaRequest {}).await {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("the burst is bounded");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let retry = refused
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo says when to retry");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );
    // Another tenant is not held back.
    app.as_key(&globex.secret)
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("globex has its own rate");
    // After the delay it says, the tenant is let in again.
    tokio::time::sleep(retry).await;
    app.client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("let in after the retry delay");
}

async fn an_expired_deadline_is_deadline_exceeded(backend: Backend) {
    // The server's default deadline applies to a caller that sets none; a
    // caller's own shorter grpc-timeout is chosen the same way (unit tests
    // of `grpc::limits`), but a tonic client would also enforce that one
    // itself and answer CANCELLED before the server's answer arrives.
    let app = spawn_app_with(
        backend,
        limited(Limits {
            default_deadline: Duration::from_nanos(1),
            ..Limits::default()
        }),
    )
    .await;
    let status = app
        .client
        .clone()
        .get_lead(pb::GetLeadRequest {
            lead_id: "late".into(),
        })
        .await
        .expect_err("the deadline passed");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("deadline"), "{status:?}");
    // Health is not held to it.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers");
}

async fn calls_on_one_lead_wait_their_turn_instead_of_failing(backend: Backend) {
    let mut app = spawn_app_with(
        backend,
        limited(Limits {
            max_concurrent_calls: 1_000,
            ..Limits::default()
        }),
    )
    .await;
    let calls = 120;
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let mut client = app.client.clone();
            tokio::spawn(async move {
                let mut request = qualify_request(
                    "hot",
                    Stage::Contact,
                    pb::LeadFacts {
                        employee_count: Some(10 + i),
                        ..Default::default()
                    },
                );
                request.request_id = format!("hot-{i}");
                client.qualify_lead(request).await.map(|_| ())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(status) = task.await.expect("no panic") {
            failures.push(status);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
    let verdicts = app.all_verdicts("hot").await;
    assert_eq!(verdicts.len(), calls as usize, "one verdict per call");
}

/// Sends bytes as they are and hands back what comes, as bytes.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct Raw;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

async fn raw_call(
    app: &crate::helpers::TestApp,
    method: &'static str,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(bytes),
        http::uri::PathAndQuery::from_static(method),
        RawCodec,
    )
    .await
    .map(tonic::Response::into_inner)
}

async fn a_request_that_is_not_protobuf_is_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    // Field 1 (lead_id) claims 255 bytes and has none; then a wire type
    // that does not exist.
    for garbage in [vec![0x0a, 0xff, 0x01], vec![0x0f], vec![0xff; 11]] {
        for method in [
            "/leadqual.v1.LeadQualificationService/GetLead",
            "/leadqual.v1.LeadQualificationService/QualifyLead",
            "/leadqual.v1.AdminService/ListApiKeys",
        ] {
            let status = raw_call(&app, method, garbage.clone())
                .await
                .expect_err("not a message");
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{method} {garbage:?}: {status:?}"
            );
            let violations = status
                .get_error_details()
                .bad_request()
                .map(|b| b.field_violations.clone())
                .unwrap_or_default();
            assert_eq!(violations.len(), 1, "{status:?}");
            assert_eq!(violations[0].field, "request");
            assert!(
                violations[0].description.contains("Request message"),
                "{violations:?}"
            );
        }
    }
    // A well-formed message still goes through the same path.
    let fine = prost::Message::encode_to_vec(&pb::ListCriteriaRequest {});
    let answer = raw_call(
        &app,
        "/leadqual.v1.LeadQualificationService/ListCriteria",
        fine,
    )
    .await
    .expect("a valid (empty) message");
    let criteria: pb::ListCriteriaResponse =
        prost::Message::decode(answer.as_slice()).expect("a response");
    assert_eq!(criteria.criteria.len(), 21);
}

async fn an_oversized_message_is_refused(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limited(Limits {
            max_message_bytes: 4 * 1024,
            ..Limits::default()
        }),
    )
    .await;
    let mut request = qualify_request("big", Stage::Contact, Default::default());
    request.request_id = "x".repeat(8 * 1024);
    let started = Instant::now();
    let status = app
        .client
        .clone()
        .qualify_lead(request)
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("4096"),
        "names the limit: {status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was stored, and the server goes on.
    assert_code(
        app.client
            .clone()
            .get_lead(pb::GetLeadRequest {
                lead_id: "big".into(),
            })
            .await,
        Code::NotFound,
        "nothing stored",
    );
}
