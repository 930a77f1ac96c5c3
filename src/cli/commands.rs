//! The client commands other than `qualify`: one call (or one listing) each,
//! printed as a table or as JSON.

use std::process::ExitCode;

use super::args::{
    CriteriaArgs, ExplainArgs, LeadsArgs, OverrideArgs, PreviewArgs, ProfileCommand, StatsArgs,
};
use super::json::{from_json, to_json};
use super::time::{Relative, parse_time, show, to_wire};
use super::{connect, key_id, read_document, render};
use crate::proto::v1 as pb;

/// Largest ListLeads page asked for.
const LEADS_PAGE: u64 = 500;

/// Writes to standard output; a reader that went away (`| head`) ends the
/// command quietly (see [`super::run`]).
fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<ExitCode> {
    out(&format!("{}\n", serde_json::to_string_pretty(value)?))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.server).await?;
    let lead = client
        .get_lead(pb::GetLeadRequest {
            lead_id: args.lead_id,
        })
        .await?
        .into_inner()
        .lead
        .ok_or_else(|| anyhow::anyhow!("the server answered without a lead"))?;
    if args.json {
        return print_json(&to_json(&lead));
    }
    out(&render::lead(&lead))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn leads(args: LeadsArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.server).await?;
    let limit = if args.limit == 0 {
        u64::MAX
    } else {
        args.limit
    };
    let mut shown: u64 = 0;
    let mut token = String::new();
    let mut table_rows = Vec::new();
    let more = loop {
        let page_size = (limit - shown).min(LEADS_PAGE);
        let page = client
            .list_leads(pb::ListLeadsRequest {
                page_size: i32::try_from(page_size).unwrap_or(i32::MAX),
                page_token: std::mem::take(&mut token),
                stage: args.stage.map_or(0, |s| s as i32),
                outcome: args.outcome.map_or(0, |o| o as i32),
                effective_outcome: args.effective_outcome.map_or(0, |o| o as i32),
                lifecycle_class: args.lifecycle_class.map_or(0, |c| c as i32),
                value_tier: args.value_tier.map_or(0, |t| t as i32),
                churn_status: args.churn_status.map_or(0, |c| c as i32),
            })
            .await?
            .into_inner();
        for lead in page.leads.into_iter().take((limit - shown) as usize) {
            shown += 1;
            if args.json {
                // JSON Lines: streamed page by page, whatever the limit.
                out(&format!("{}\n", serde_json::to_string(&to_json(&lead))?))?;
            } else {
                table_rows.push(lead);
            }
        }
        if page.next_page_token.is_empty() {
            break false;
        }
        if shown >= limit {
            break true;
        }
        token = page.next_page_token;
    };
    if !args.json {
        if table_rows.is_empty() {
            out("No lead matches.\n")?;
        } else {
            out(&render::leads(&table_rows))?;
        }
    }
    if more {
        eprintln!("{shown} leads shown; more match (raise --limit, or --limit 0 for all).");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn criteria(args: CriteriaArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.server).await?;
    let criteria = client
        .list_criteria(pb::ListCriteriaRequest {})
        .await?
        .into_inner()
        .criteria;
    if args.json {
        return print_json(&serde_json::Value::Array(
            criteria.iter().map(to_json).collect(),
        ));
    }
    out(&render::criteria(&criteria))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn profile(command: ProfileCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProfileCommand::Get(args) => {
            let mut client = connect(&args.server).await?;
            let profile = client
                .get_profile(pb::GetProfileRequest {
                    version: args.version.unwrap_or(0),
                })
                .await?
                .into_inner()
                .profile
                .ok_or_else(|| anyhow::anyhow!("the server answered without a profile"))?;
            if args.json {
                return print_json(&to_json(&profile));
            }
            out(&render::profile(&profile))?;
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Set(args) => {
            let profile = read_profile(&args.file)?;
            let mut client = connect(&args.server).await?;
            let stored = client
                .update_profile(pb::UpdateProfileRequest {
                    profile: Some(profile),
                    expected_version: args.expected_version,
                })
                .await?
                .into_inner()
                .profile
                .ok_or_else(|| anyhow::anyhow!("the server answered without a profile"))?;
            eprintln!("stored profile version {}", stored.version);
            out(&format!("{}\n", stored.version))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_profile(path: &std::path::Path) -> anyhow::Result<pb::Profile> {
    let text = read_document(path)?;
    from_json::<pb::Profile>(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a profile: {e}", path.display()))
}

pub async fn preview(args: PreviewArgs) -> anyhow::Result<ExitCode> {
    let profile = read_profile(&args.file)?;
    let mut client = connect(&args.server).await?;
    let answer = client
        .preview_profile(pb::PreviewProfileRequest {
            profile: Some(profile),
            sample_size: args.sample,
        })
        .await?
        .into_inner();
    if args.json {
        return print_json(&to_json(&answer));
    }
    out(&render::preview(&answer))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let now = jiff::Timestamp::now();
    let time = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<jiff::Timestamp>> {
        text.as_deref()
            .map(|t| parse_time(t, now, Relative::Ago).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
            .transpose()
    };
    let since = time("--since", &args.since)?;
    let until = time("--until", &args.until)?;
    let mut client = connect(&args.server).await?;
    let answer = client
        .get_signal_stats(pb::GetSignalStatsRequest {
            start_time: since.map(to_wire),
            end_time: until.map(to_wire),
            stage: args.stage.map_or(0, |s| s as i32),
        })
        .await?
        .into_inner();
    if args.json {
        return print_json(&to_json(&answer));
    }
    let mut range = match (since, until) {
        (None, None) => "all time".to_owned(),
        (Some(s), None) => format!("since {}", show(Some(&to_wire(s)))),
        (None, Some(u)) => format!("before {}", show(Some(&to_wire(u)))),
        (Some(s), Some(u)) => format!(
            "from {} to {}",
            show(Some(&to_wire(s))),
            show(Some(&to_wire(u)))
        ),
    };
    if let Some(stage) = args.stage {
        range.push_str(&format!(", stage {}", render::stage(stage as i32)));
    }
    out(&render::stats(&answer, &range))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn override_verdict(args: OverrideArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.server).await?;
    if args.clear {
        let answer = client
            .clear_override(pb::ClearOverrideRequest {
                lead_id: args.lead_id.clone(),
                reason: args.reason,
            })
            .await?
            .into_inner();
        let lead = answer.lead.unwrap_or_default();
        out(&format!(
            "lead {}: override withdrawn; effective outcome {}\n",
            args.lead_id,
            render::outcome(lead.effective_outcome)
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = args
        .outcome
        .ok_or_else(|| anyhow::anyhow!("--outcome or --clear is required"))?;
    let expire_time = args
        .expire
        .as_deref()
        .map(|t| {
            parse_time(t, jiff::Timestamp::now(), Relative::FromNow)
                .map_err(|e| anyhow::anyhow!("--expire: {e}"))
        })
        .transpose()?
        .map(to_wire);
    let author = match args.author {
        Some(author) => author,
        None => default_author(args.server.key.as_deref()).ok_or_else(|| {
            anyhow::anyhow!("--author is required: neither $USER nor an API key id is at hand")
        })?,
    };
    let answer = client
        .override_verdict(pb::OverrideVerdictRequest {
            lead_id: args.lead_id.clone(),
            outcome: outcome as i32,
            reason: args.reason,
            author,
            expire_time,
        })
        .await?
        .into_inner();
    let o = answer.r#override.unwrap_or_default();
    let until = match &o.expire_time {
        Some(t) => format!("until {}", show(Some(t))),
        None => "until replaced".to_owned(),
    };
    out(&format!(
        "lead {}: effective outcome {} by {}, {until} (override {})\n",
        args.lead_id,
        render::outcome(o.outcome),
        o.author,
        o.override_id
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// $USER, else the API key's id.
fn default_author(key: Option<&str>) -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| key.and_then(key_id).map(|id| format!("key {id}")))
}
