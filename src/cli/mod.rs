//! The client side of the `leadqual` binary: commands for sales-ops people
//! and scripts that talk to a running server over gRPC.

pub mod args;
mod commands;
mod health;
pub mod json;
pub(crate) mod qualify;
pub mod render;
pub mod rows;
pub mod time;

pub use crate::grpc::status::code_name;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub use args::{ClientCommand, ServerArgs};

use crate::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;

/// Largest response accepted: a page of leads with their verdicts.
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Largest profile file read.
const MAX_PROFILE_FILE_BYTES: u64 = 1024 * 1024;

/// Runs a client command; what went wrong is printed on standard error.
pub async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::Qualify(args) => qualify::run(args).await,
        ClientCommand::Explain(args) => commands::explain(args).await,
        ClientCommand::Leads(args) => commands::leads(args).await,
        ClientCommand::Criteria(args) => commands::criteria(args).await,
        ClientCommand::Profile(args) => commands::profile(args).await,
        ClientCommand::Preview(args) => commands::preview(args).await,
        ClientCommand::Stats(args) => commands::stats(args).await,
        ClientCommand::Override(args) => commands::override_verdict(args).await,
        ClientCommand::Health(args) => health::check(args).await,
    };
    match result {
        Ok(code) => code,
        // The reader of standard output went away (`leadqual leads | head`):
        // nothing is wrong, there is just no one left to tell.
        Err(err)
            if err
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}", describe_error(&err));
            ExitCode::FAILURE
        }
    }
}

/// One line with the gRPC code and message, then one line per field
/// violation; any other error as one line.
pub fn describe_error(err: &anyhow::Error) -> String {
    match err.downcast_ref::<Status>() {
        Some(status) => format!("error: {}", describe_status(status)),
        None => format!("error: {err:#}"),
    }
}

/// `CODE: message`, then `  - field: description` per field violation.
pub fn describe_status(status: &Status) -> String {
    let mut text = format!(
        "{}: {}",
        code_name(status.code()),
        one_line(status.message())
    );
    for (field, description) in field_violations(status) {
        text.push_str(&format!("\n  - {field}: {description}"));
    }
    text
}

/// The BadRequest field violations a status carries.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| (v.field.clone(), one_line(&v.description)))
                .collect()
        })
        .unwrap_or_default()
}

/// A `google.rpc.Status` (a stream item's error) as a tonic status, so that
/// its details read like a call's.
pub fn status_from_rpc(status: &tonic_types::pb::Status) -> Status {
    use prost::Message;
    Status::with_details(
        Code::from(status.code),
        status.message.clone(),
        status.encode_to_vec().into(),
    )
}

/// Control characters (a newline in a message) would break the one-line
/// report: they are escaped.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Sends `authorization: Bearer KEY` on every call when a key is set.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Client = LeadQualificationServiceClient<InterceptedService<Channel, Bearer>>;

/// Connects to the server named by `args`.
pub async fn connect(args: &ServerArgs) -> anyhow::Result<Client> {
    let bearer = bearer(args)?;
    let channel = channel(args).await?;
    Ok(
        LeadQualificationServiceClient::with_interceptor(channel, bearer)
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
}

/// The `authorization` header of `args`' key, if any.
fn bearer(args: &ServerArgs) -> anyhow::Result<Bearer> {
    Ok(match &args.key {
        Some(key) if !key.trim().is_empty() => {
            let mut value = format!("Bearer {}", key.trim())
                .parse::<MetadataValue<Ascii>>()
                .map_err(|_| anyhow::anyhow!("the API key has characters a header cannot carry"))?;
            // Kept out of any debug output of the request.
            value.set_sensitive(true);
            Bearer(Some(value))
        }
        _ => Bearer(None),
    })
}

/// A channel to the server named by `args`, over TLS for https://.
pub async fn channel(args: &ServerArgs) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(args.server.clone())
        .map_err(|e| anyhow::anyhow!("--server {:?} is not a URL: {e}", args.server))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    match endpoint.uri().scheme_str() {
        Some("https") => {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(path) = &args.ca_cert {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read --ca-cert {}: {e}", path.display())
                })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| anyhow::anyhow!("TLS settings: {e}"))?;
        }
        Some("http") => {
            if args.ca_cert.is_some() {
                anyhow::bail!("--ca-cert needs an https:// --server");
            }
        }
        _ => anyhow::bail!(
            "--server {:?} must start with http:// or https://",
            args.server
        ),
    }
    endpoint.connect().await.map_err(|e| {
        let mut cause = format!("{e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause.push_str(&format!(": {s}"));
            source = s.source();
        }
        anyhow::anyhow!("cannot reach the server at {}: {cause}", args.server)
    })
}

/// The key id of an API key (`lq_<key_id>_<secret>`), never the secret.
pub fn key_id(key: &str) -> Option<&str> {
    let rest = key.trim().strip_prefix("lq_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some(id)
}

/// Opens an input file, `-` being standard input.
pub fn open_input(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let file =
        File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    Ok(Box::new(file))
}

/// Creates an output file, `-` being standard output.
pub fn create_output(path: &Path) -> anyhow::Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let file =
        File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(Box::new(file))
}

/// A whole JSON document from a file (or `-`), at most 1 MiB.
pub fn read_document(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    open_input(path)?
        .take(MAX_PROFILE_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_PROFILE_FILE_BYTES {
        anyhow::bail!(
            "{} is larger than {} bytes",
            path.display(),
            MAX_PROFILE_FILE_BYTES
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, FieldViolation};

    #[test]
    fn a_status_reads_as_its_code_message_and_field_violations() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: facts.country: not a code",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new("facts.country", "\"XX\" is not a code"),
                FieldViolation::new("lead_id", "must not be empty\nat all"),
            ]),
        );
        assert_eq!(
            describe_status(&status),
            "INVALID_ARGUMENT: invalid request: facts.country: not a code\n  \
             - facts.country: \"XX\" is not a code\n  - lead_id: must not be empty\\nat all"
        );
        let plain = Status::not_found("lead L not found");
        assert_eq!(describe_status(&plain), "NOT_FOUND: lead L not found");
    }

    #[test]
    fn a_stream_item_error_keeps_its_details() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request(vec![FieldViolation::new("facts.country", "no")]),
        );
        let rpc = tonic_types::pb::Status {
            code: Code::InvalidArgument as i32,
            message: "bad".into(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
                value: prost::Message::encode_to_vec(&tonic_types::pb::BadRequest {
                    field_violations: vec![tonic_types::pb::bad_request::FieldViolation {
                        field: "facts.country".into(),
                        description: "no".into(),
                        ..Default::default()
                    }],
                }),
            }],
        };
        let back = status_from_rpc(&rpc);
        assert_eq!(back.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&back), field_violations(&status));
    }

    #[test]
    fn the_key_id_is_read_from_well_formed_keys_only() {
        assert_eq!(key_id("lq_0123456789ab_secretpart"), Some("0123456789ab"));
        assert_eq!(key_id("lq_0123_secret"), None);
        assert_eq!(key_id("secret"), None);
    }
}
