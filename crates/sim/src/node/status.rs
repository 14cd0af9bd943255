//! Pure pod status computation: the phase, conditions and container statuses a pod reports, from
//! the states of its containers (no IO, no clock: `now` is passed in).

use jiff::Timestamp;
use serde_json::{json, Value};

/// The node's address (`status.hostIP`), and every pod's when pods share this machine's network.
pub const HOST_IP: &str = "127.0.0.1";

/// `2026-01-02T03:04:05Z`: Kubernetes' second-precision time format.
pub fn time_text(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `StartError`.
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: String,
}

/// A container's state, as in `containerStatuses[].state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

impl State {
    pub fn waiting(reason: &str, message: Option<String>) -> State {
        State::Waiting { reason: reason.to_string(), message }
    }

    fn to_json(&self) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": time_text(*started_at)}}),
            State::Terminated(t) => {
                let mut v = json!({
                    "exitCode": t.exit_code,
                    "reason": t.reason,
                    "finishedAt": time_text(t.finished_at),
                    "containerID": t.container_id,
                });
                if let Some(s) = t.started_at {
                    v["startedAt"] = json!(time_text(s));
                }
                if let Some(s) = t.signal {
                    v["signal"] = json!(s);
                }
                if let Some(m) = &t.message {
                    v["message"] = json!(m);
                }
                json!({"terminated": v})
            }
        }
    }

    fn exit_code(&self) -> Option<i32> {
        match self {
            State::Terminated(t) => Some(t.exit_code),
            _ => None,
        }
    }
}

/// What the node knows of one container, as it reports it in the pod status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerReport {
    pub name: String,
    pub image: String,
    /// The pulled image's repo digest (empty until it is pulled), as containerd reports it.
    pub image_id: String,
    pub init: bool,
    pub state: State,
    pub last_state: Option<State>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: i32,
    pub container_id: String,
}

impl ContainerReport {
    pub fn new(name: &str, image: &str, init: bool) -> Self {
        ContainerReport {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            init,
            state: State::waiting(if init { "PodInitializing" } else { "ContainerCreating" }, None),
            last_state: None,
            ready: false,
            started: false,
            restart_count: 0,
            container_id: String::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "state": self.state.to_json(),
            "lastState": self.last_state.as_ref().map(State::to_json).unwrap_or_else(|| json!({})),
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
        });
        if !self.container_id.is_empty() {
            v["containerID"] = json!(self.container_id);
        }
        if !self.init {
            v["started"] = json!(self.started);
        }
        v
    }
}

/// Everything the status depends on.
#[derive(Debug, Clone)]
pub struct PodSnapshot<'a> {
    pub restart_policy: &'a str,
    pub start_time: Timestamp,
    pub inits: &'a [ContainerReport],
    pub containers: &'a [ContainerReport],
    /// Set while the volumes cannot be set up: the reason the pod waits.
    pub volume_error: Option<&'a str>,
    /// The pod's IP, once it has one.
    pub pod_ip: Option<&'a str>,
}

/// The pod phase, following the kubelet's `getPhase`.
pub fn phase(s: &PodSnapshot<'_>) -> &'static str {
    let init_failed = s.inits.iter().any(|c| c.state.exit_code().is_some_and(|code| code != 0));
    let inits_done = s.inits.iter().all(|c| c.state.exit_code() == Some(0));
    if !inits_done {
        return if init_failed && s.restart_policy == "Never" { "Failed" } else { "Pending" };
    }
    let running = s.containers.iter().filter(|c| matches!(c.state, State::Running { .. })).count();
    let codes: Vec<i32> = s.containers.iter().filter_map(|c| c.state.exit_code()).collect();
    let ever_started = s.containers.iter().any(|c| c.started || c.restart_count > 0 || c.last_state.is_some());
    if running > 0 {
        "Running"
    } else if codes.len() == s.containers.len() && !codes.is_empty() {
        let ok = codes.iter().all(|c| *c == 0);
        match s.restart_policy {
            "Never" if ok => "Succeeded",
            "Never" => "Failed",
            "OnFailure" if ok => "Succeeded",
            _ => "Running",
        }
    } else if ever_started {
        "Running"
    } else {
        "Pending"
    }
}

/// The whole `status` object.
pub fn compute(s: &PodSnapshot<'_>) -> Value {
    let start = time_text(s.start_time);
    let phase = phase(s);
    let inits_done = s.inits.iter().all(|c| c.state.exit_code() == Some(0));
    let mut conditions =
        vec![json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": start})];
    let ready = inits_done && s.containers.iter().all(|c| c.ready && matches!(c.state, State::Running { .. }));
    if inits_done {
        conditions
            .push(json!({"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": start}));
    } else {
        let pending: Vec<&str> =
            s.inits.iter().filter(|c| c.state.exit_code() != Some(0)).map(|c| c.name.as_str()).collect();
        conditions.push(json!({"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
            "message": format!("containers with incomplete status: [{}]", pending.join(" ")),
            "lastProbeTime": null, "lastTransitionTime": start}));
    }
    let ready_condition = if phase == "Succeeded" || phase == "Failed" {
        json!({"status": "False", "reason": "PodCompleted"})
    } else if ready {
        json!({"status": "True"})
    } else {
        let unready: Vec<&str> = s.containers.iter().filter(|c| !c.ready).map(|c| c.name.as_str()).collect();
        json!({"status": "False", "reason": "ContainersNotReady",
            "message": format!("containers with unready status: [{}]", unready.join(" "))})
    };
    for kind in ["ContainersReady", "Ready"] {
        let mut c = ready_condition.clone();
        c["type"] = json!(kind);
        c["lastProbeTime"] = Value::Null;
        c["lastTransitionTime"] = json!(start);
        conditions.push(c);
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "startTime": start,
        "containerStatuses": s.containers.iter().map(ContainerReport::to_json).collect::<Vec<_>>(),
    });
    if let Some(ip) = s.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if !s.inits.is_empty() {
        status["initContainerStatuses"] = s.inits.iter().map(ContainerReport::to_json).collect();
    }
    if let Some(why) = s.volume_error {
        status["message"] = json!(why);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn running(name: &str) -> ContainerReport {
        let mut c = ContainerReport::new(name, "busybox", false);
        c.state = State::Running { started_at: t(1) };
        c.ready = true;
        c.started = true;
        c
    }

    fn exited(name: &str, code: i32) -> ContainerReport {
        let mut c = ContainerReport::new(name, "busybox", false);
        c.state = State::Terminated(Terminated {
            exit_code: code,
            signal: None,
            reason: if code == 0 { "Completed" } else { "Error" }.to_string(),
            message: None,
            started_at: Some(t(1)),
            finished_at: t(2),
            container_id: "sim://x".to_string(),
        });
        c.started = false;
        c
    }

    fn snap<'a>(policy: &'a str, inits: &'a [ContainerReport], containers: &'a [ContainerReport]) -> PodSnapshot<'a> {
        PodSnapshot {
            restart_policy: policy,
            start_time: t(0),
            inits,
            containers,
            volume_error: None,
            pod_ip: Some(HOST_IP),
        }
    }

    #[test]
    fn waiting_containers_are_pending() {
        let c = [ContainerReport::new("c", "i", false)];
        let status = compute(&snap("Always", &[], &c));
        assert_eq!(status["phase"], "Pending");
        assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
        assert_eq!(status["conditions"][3]["status"], "False");
    }

    #[test]
    fn all_running_is_ready() {
        let c = [running("a"), running("b")];
        let status = compute(&snap("Always", &[], &c));
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["conditions"][3]["type"], "Ready");
        assert_eq!(status["conditions"][3]["status"], "True");
        assert_eq!(status["podIP"], "127.0.0.1");
        assert_eq!(status["containerStatuses"][1]["state"]["running"]["startedAt"], time_text(t(1)));
    }

    #[test]
    fn terminal_phase_follows_restart_policy() {
        let ok = [exited("a", 0)];
        let bad = [exited("a", 3)];
        assert_eq!(phase(&snap("Never", &[], &ok)), "Succeeded");
        assert_eq!(phase(&snap("Never", &[], &bad)), "Failed");
        assert_eq!(phase(&snap("OnFailure", &[], &ok)), "Succeeded");
        assert_eq!(phase(&snap("OnFailure", &[], &bad)), "Running");
        assert_eq!(phase(&snap("Always", &[], &ok)), "Running");
        let status = compute(&snap("Never", &[], &bad));
        assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
        assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["reason"], "Error");
        assert_eq!(status["conditions"][3]["reason"], "PodCompleted");
    }

    #[test]
    fn init_containers_gate_the_pod() {
        let mut init = ContainerReport::new("i", "busybox", true);
        let c = [ContainerReport::new("c", "busybox", false)];
        assert_eq!(phase(&snap("Always", std::slice::from_ref(&init), &c)), "Pending");
        init.state = exited("i", 1).state;
        assert_eq!(phase(&snap("Never", std::slice::from_ref(&init), &c)), "Failed");
        assert_eq!(phase(&snap("Always", std::slice::from_ref(&init), &c)), "Pending");
        init.state = exited("i", 0).state;
        let status = compute(&snap("Always", std::slice::from_ref(&init), &c));
        assert_eq!(status["conditions"][1]["status"], "True");
        assert!(status["initContainerStatuses"][0].get("started").is_none());
    }

    #[test]
    fn restarted_container_waiting_is_still_running_phase() {
        let mut c = exited("a", 1);
        c.last_state = Some(c.state.clone());
        c.state = State::waiting("CrashLoopBackOff", Some("back-off".into()));
        c.restart_count = 1;
        assert_eq!(phase(&snap("Always", &[], std::slice::from_ref(&c))), "Running");
    }
}
