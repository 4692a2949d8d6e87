//! `xdpstack serve`: run services on the stack, one instance per core, until
//! SIGINT/SIGTERM.

use crate::config::{load_file, resolve};
use crate::stack::{print_summary, ready_fields, require_root, say, start};
use crate::{Failure, ServeArgs};
use engine::{Service, Services};
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
        if services.iter().any(|o: &Service| o.port == svc.port && o.kind.is_udp() == svc.kind.is_udp()) {
            let proto = if svc.kind.is_udp() { "UDP" } else { "TCP" };
            return Err(Failure::usage(format!("--service {s}: {proto} port {} given twice", svc.port)));
        }
        services.push(svc);
    }
    require_root()?;
    let svcs: Vec<String> = services.iter().map(|v| format!("{}:{}", v.kind.name(), v.port)).collect();
    let stack = start(&settings, move |_| Services::new(&services))?;
    let (text, mut json) = ready_fields(&stack, &settings);
    if settings.json {
        json.insert("services".into(), serde_json::json!(svcs));
        say(&Value::Object(json).to_string());
    } else {
        say(&format!("ready {text} services={}", svcs.join(",")));
    }
    let snaps = stack.wait().map_err(|e| Failure::runtime(e.to_string()))?;
    print_summary(&snaps, settings.json);
    Ok(())
}
