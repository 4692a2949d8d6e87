//! `xdpstack serve`: run services on the stack, one instance per core, until
//! SIGINT/SIGTERM.

use crate::config::{load_file, resolve};
use crate::stack::{print_summary, ready_fields, require_root, say, start};
use crate::{Failure, ServeArgs};
use engine::http::Site;
use engine::{Service, ServiceKind, Services};
use std::sync::Arc;
use serde_json::Value;

/// Run `serve` until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let file = load_file(args.common.config.as_deref())?;
    let settings = resolve(&args.common, &file)?;
    let service_specs = if args.service.is_empty() { file.service.clone() } else { args.service.clone() };
    if service_specs.is_empty() {
        return Err(Failure::usage("--service KIND:PORT is required (e.g. echo:7)"));
    }
    let mut services = Vec::new();
    for s in &service_specs {
        let svc = Service::parse(s).map_err(Failure::usage)?;
        if let Some(o) = services.iter().find(|o: &&Service| o.port == svc.port && ((o.kind.on_tcp() && svc.kind.on_tcp()) || (o.kind.on_udp() && svc.kind.on_udp()))) {
            let proto = if o.kind.on_tcp() && svc.kind.on_tcp() { "TCP" } else { "UDP" };
            return Err(Failure::usage(format!("--service {s}: {proto} port {} given twice", svc.port)));
        }
        services.push(svc);
    }
    let www = args.www.clone().or_else(|| file.www.clone());
    let site = match (&www, services.iter().any(|s| s.kind == ServiceKind::Http)) {
        (Some(dir), true) => Site::load(std::path::Path::new(dir)).map_err(|e| Failure::usage(format!("--www {dir}: {e}")))?,
        (None, true) => return Err(Failure::usage("--service http:PORT needs --www DIR (the files to serve)")),
        (Some(_), false) => return Err(Failure::usage("--www DIR is for the http service: add --service http:PORT")),
        (None, false) => Site::default(),
    };
    require_root()?;
    let svcs: Vec<String> = services.iter().map(|v| format!("{}:{}", v.kind.name(), v.port)).collect();
    let www_text = www.as_ref().map(|d| format!(" www={d} files={}", site.len())).unwrap_or_default();
    let www_json = www.as_ref().map(|d| (d.clone(), site.len()));
    let site = Arc::new(site);
    let stack = start(&settings, move |_| Services::with_site(&services, site.clone()))?;
    let (text, mut json) = ready_fields(&stack, &settings);
    if settings.json {
        json.insert("services".into(), serde_json::json!(svcs));
        if let Some((dir, files)) = www_json {
            json.insert("www".into(), dir.into());
            json.insert("www_files".into(), files.into());
        }
        say(&Value::Object(json).to_string());
    } else {
        say(&format!("ready {text} services={}{www_text}", svcs.join(",")));
    }
    let snaps = stack.wait().map_err(|e| Failure::runtime(e.to_string()))?;
    print_summary(&snaps, settings.json);
    Ok(())
}
