use super::{GrafanaCommand, PublishArgs};
use crate::error::{Error, Result, exit};
use crate::grafana::annotate;
use crate::history::RunStore;
use crate::run::{k6::RemoteWrite, load_summary, open_history, publish_summary};

pub fn publish(args: &PublishArgs) -> Result<i32> {
    let store = open_history(&args.state_dir)?;
    let (summary, source) = load_summary(&args.run, &store)?;
    // From the history, the run's id and verdict come along; from a file, the file name.
    let (run_id, verdict) = match store.get_run(&args.run) {
        Ok(r) => (r.id.clone(), Some(r.outcome.as_str().to_string())),
        Err(_) => (source.clone(), None),
    };
    let rw = RemoteWrite { url: args.remote_write.clone(), tenant: args.tenant.clone() };
    let n = publish_summary(&rw, &summary, &run_id, verdict.as_deref())
        .map_err(|e| Error::Usage(format!("publish: {e}")))?;
    println!("published {n} series of {source} to {}", crate::prom::remote_write::redact_url(&rw.url));
    Ok(exit::OK)
}

pub fn run(cmd: &GrafanaCommand) -> Result<i32> {
    match cmd {
        GrafanaCommand::Generate { out } => {
            let files = crate::grafana::generate::generate(&Default::default());
            crate::grafana::generate::write(out, &files)
                .map_err(|source| Error::Output { path: out.clone(), source })?;
            println!("wrote {} files under {}", files.len(), out.display());
            Ok(exit::OK)
        }
        GrafanaCommand::Annotate { run, baseline, state_dir } => {
            let config = grafana_config()?;
            let store = open_history(state_dir)?;
            let record = store.get_run(run).map_err(|e| Error::Usage(e.to_string()))?;
            let report = record.run_dir.as_ref().map(|d| d.join("report.html").display().to_string());
            let mut annotations = vec![annotate::run_annotation(
                &annotate::RunFacts::from_record(&record, report),
                config.dashboard_uid.as_deref(),
            )];
            if *baseline {
                let choice = crate::history::BaselineChoice {
                    run: record.clone(),
                    reason: "marked with --baseline".into(),
                    pin: None,
                };
                annotations.push(annotate::baseline_annotation(
                    &annotate::BaselineFacts::from_choice(&choice),
                    config.dashboard_uid.as_deref(),
                ));
            }
            let queue = annotate::Queue::new(state_dir.join(annotate::QUEUE_DIR));
            for a in &annotations {
                send(&config, &queue, a)?;
            }
            Ok(exit::OK)
        }
        GrafanaCommand::Flush { state_dir } => {
            let config = grafana_config()?;
            let queue = annotate::Queue::new(state_dir.join(annotate::QUEUE_DIR));
            let report = annotate::flush(&config, &queue).map_err(|e| Error::Usage(e.to_string()))?;
            println!("{report}");
            Ok(if report.is_clean() { exit::OK } else { exit::GATE_FAILED })
        }
        GrafanaCommand::EmbedUrl { run, grafana_url, state_dir } => {
            let store = open_history(state_dir)?;
            let (summary, _) = load_summary(run, &store)?;
            let run_id = store.get_run(run).map(|r| r.id).unwrap_or_else(|_| run.clone());
            let panel = crate::grafana::embed::Panel {
                grafana_url,
                dashboard_uid: crate::grafana::generate::EMBED_UID,
                slug: crate::grafana::generate::EMBED_UID,
                panel_id: crate::grafana::generate::embed_panels::P95,
            };
            let url = crate::grafana::embed::run_embed_url(&panel, &summary, &run_id)
                .map_err(|e| Error::Usage(e.to_string()))?;
            println!("{url}");
            Ok(exit::OK)
        }
    }
}

fn grafana_config() -> Result<annotate::GrafanaConfig> {
    annotate::GrafanaConfig::from_env().map_err(|e| Error::Usage(e.to_string()))?.ok_or_else(|| {
        Error::Usage("Grafana is not configured: set K6GATE_GRAFANA_URL and K6GATE_GRAFANA_TOKEN".into())
    })
}

/// Sends, or queues on disk when Grafana cannot take it now; says which.
pub fn send(config: &annotate::GrafanaConfig, queue: &annotate::Queue, a: &annotate::Annotation) -> Result<()> {
    match annotate::send_or_queue(config, queue, a) {
        Ok(outcome) => {
            println!("{outcome}");
            Ok(())
        }
        Err(e) => Err(Error::Usage(e.to_string())),
    }
}
