//! `publish` and `grafana generate|annotate|flush|embed-url`.

use super::{GrafanaCommand, PublishArgs, Settings};
use crate::error::{Error, Exit, Result, Service};
use crate::grafana::annotate;
use crate::history::RunStore;
use crate::load::open_history;
use crate::run::k6::RemoteWrite;
use crate::run::outputs::{self, Delivery};

/// The run's id and outcome when it came from the history; a file is named by itself.
fn identity(run: &crate::load::LoadedRun) -> (String, Option<String>) {
    match &run.record {
        Some(r) => (r.id.clone(), Some(r.outcome.as_str().to_string())),
        None => (run.source.clone(), None),
    }
}

/// A delivery as the command's result: what it did on stdout, a failure as an error.
fn finish(d: Delivery) -> Result<Exit> {
    super::github::show_deliveries(std::slice::from_ref(&d));
    match d.problem {
        Some(reason) => Err(Error::NotDelivered { service: d.service, reason }),
        None => Ok(Exit::Success),
    }
}

pub fn publish(args: &PublishArgs, s: &Settings) -> Result<Exit> {
    let run = crate::load::run(&args.run, &s.history())?;
    let (run_id, verdict) = identity(&run);
    let p = outputs::Prometheus {
        remote_write: RemoteWrite {
            url: args.remote_write.clone(),
            tenant: args.tenant.clone(),
            auth: s.remote_write_auth()?,
            query_url: None,
        },
    };
    // The same label allowlist as `run`'s publishing.
    let data = crate::policy::data::load_dirs(&s.global.policies.join("data"), Some(&s.global.waivers_dir))?;
    finish(outputs::publish_summary(&p, &run.summary, &run_id, verdict.as_deref(), data.cardinality.as_ref()))
}

fn grafana(s: &Settings) -> Result<outputs::Grafana> {
    let config = s.grafana()?.ok_or_else(|| {
        Error::Usage("Grafana is not configured: set K6GATE_GRAFANA_URL and K6GATE_GRAFANA_TOKEN".into())
    })?;
    Ok(outputs::Grafana { config, queue_dir: s.state_dir().join(annotate::QUEUE_DIR) })
}

pub fn run(cmd: &GrafanaCommand, s: &Settings) -> Result<Exit> {
    match cmd {
        GrafanaCommand::Generate { out } => {
            let files = crate::grafana::generate::generate(&Default::default());
            crate::grafana::generate::write(out, &files).map_err(Error::output(out))?;
            println!("wrote {} files under {}", files.len(), out.display());
            Ok(Exit::Success)
        }
        GrafanaCommand::Annotate { run, baseline } => {
            let g = grafana(s)?;
            let store = open_history(&s.history())?;
            let record = store.get_run(run)?;
            let report = record.run_dir.as_ref().map(|d| d.join("report.html").display().to_string());
            let uid = g.config.dashboard_uid.as_deref();
            let mut annotations =
                vec![annotate::run_annotation(&annotate::RunFacts::from_record(&record, report), uid)];
            if *baseline {
                let choice = crate::history::BaselineChoice {
                    run: record.clone(),
                    reason: "marked with --baseline".into(),
                    pin: None,
                };
                annotations.push(annotate::baseline_annotation(&annotate::BaselineFacts::from_choice(&choice), uid));
            }
            // Queued for `grafana flush` is a success here, as Grafana may just be down for a
            // while; refused by Grafana, or not even queued, is not.
            let queue = annotate::Queue::new(&g.queue_dir);
            for a in &annotations {
                match annotate::send_or_queue(&g.config, &queue, a) {
                    Ok(outcome @ (annotate::Outcome::Sent(_) | annotate::Outcome::Queued(..))) => {
                        tracing::info!("Grafana: {outcome}")
                    }
                    Ok(refused) => {
                        return Err(Error::NotDelivered { service: Service::Grafana, reason: refused.to_string() });
                    }
                    Err(e) => return Err(Error::service(Service::Grafana, "annotating the run", e)),
                }
            }
            Ok(Exit::Success)
        }
        GrafanaCommand::Flush => {
            let g = grafana(s)?;
            let queue = annotate::Queue::new(&g.queue_dir);
            let report = annotate::flush(&g.config, &queue)
                .map_err(|e| Error::service(Service::Grafana, "reading the annotation queue", e))?;
            println!("{report}");
            // Some annotations still queued or refused: not a gate decision, so not exit 1.
            match report.is_clean() {
                true => Ok(Exit::Success),
                false => Err(Error::NotDelivered {
                    service: Service::Grafana,
                    reason: "some annotations were not sent (see above)".into(),
                }),
            }
        }
        GrafanaCommand::EmbedUrl { run, grafana_url } => {
            let loaded = crate::load::run(run, &s.history())?;
            let (run_id, _) = identity(&loaded);
            let panel = crate::grafana::embed::Panel {
                grafana_url,
                dashboard_uid: crate::grafana::generate::EMBED_UID,
                slug: crate::grafana::generate::EMBED_UID,
                panel_id: crate::grafana::generate::embed_panels::P95,
            };
            let url = crate::grafana::embed::run_embed_url(&panel, &loaded.summary, &run_id)
                .map_err(|e| Error::Usage(e.to_string()))?;
            println!("{url}");
            Ok(Exit::Success)
        }
    }
}
