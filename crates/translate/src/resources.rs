//! Memory and CPU: HostConfig's cgroup settings as the container's resource requests and limits.
//!
//! Docker's checks come first, with moby's wording (daemon/daemon_unix.go verifyPlatformContainerResources), so a
//! client sees the same 400 it would from Docker.

use std::collections::BTreeMap;

use bollard_stubs::models::HostConfig;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::TranslateError;

/// Docker's smallest memory limit and reservation: 6 MiB (moby linuxMinMemory).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period Docker assumes when CpuQuota is given without CpuPeriod: 100 ms.
const DEFAULT_CPU_PERIOD: i64 = 100_000;
/// Docker's smallest cpu shares value; smaller values are raised to it (moby linuxMinCPUShares).
const MIN_CPU_SHARES: i64 = 2;

fn invalid(msg: &str) -> TranslateError {
    TranslateError::InvalidParameter(msg.to_string())
}

/// Requests and limits from HostConfig, or `None` when nothing is set.
///
/// - `Memory` (bytes) -> `limits.memory` (bytes). `MemoryReservation` (bytes) -> `requests.memory`.
/// - `NanoCpus` -> `limits.cpu` = ceil(NanoCpus / 1e6) millicores (1e9 NanoCpus = 1 cpu = 1000m).
/// - `CpuQuota` (µs per period) with `CpuPeriod` (µs, default 100000) -> `limits.cpu` =
///   ceil(CpuQuota * 1000 / CpuPeriod) millicores. Kubernetes always uses a 100 ms period, so the ratio is kept
///   and the burst window is not. CpuPeriod alone (no quota) limits nothing in Docker either and is accepted.
/// - `CpuShares` -> `requests.cpu` = ceil(CpuShares * 1000 / 1024) millicores. The kubelet maps a cpu request
///   back to cgroup shares as millicores * 1024 / 1000, so the container gets the shares it asked for (Docker's
///   default 1024 = 1000m). Unlike Docker, a request is also a scheduling reservation.
/// - A limit given without its request gets an explicit request of `0`: Kubernetes would otherwise default the
///   request to the limit and reserve it at scheduling, which `docker run -m 64g` does not do.
/// - `MemorySwap` 0 (Docker's default) or equal to Memory (no swap) is accepted: swap is a node setting in
///   Kubernetes (off by default). Any other value is refused.
pub fn resources(hc: &HostConfig) -> Result<Option<ResourceRequirements>, TranslateError> {
    if let Some(shares) = hc.cpu_shares.filter(|s| *s < 0) {
        // Docker 20.10 creates it and fails at start ("shares: invalid argument"); newer Docker refuses it here.
        return Err(TranslateError::InvalidParameter(format!(
            "invalid CPU shares ({shares}): value must be a positive integer"
        )));
    }
    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    if let Some(limit) = memory_limit(hc)? {
        limits.insert("memory".to_string(), Quantity(limit.to_string()));
        requests.insert("memory".to_string(), Quantity("0".to_string()));
    }
    if let Some(reservation) = memory_reservation(hc)? {
        requests.insert("memory".to_string(), Quantity(reservation.to_string()));
    }
    let cpu_limit = cpu_limit_millis(hc)?;
    if let Some(milli) = cpu_limit {
        limits.insert("cpu".to_string(), Quantity(format!("{milli}m")));
        requests.insert("cpu".to_string(), Quantity("0".to_string()));
    }
    if let Some(milli) = cpu_request_millis(hc) {
        if cpu_limit.is_some_and(|limit| milli > limit) {
            return Err(TranslateError::unsupported(
                "CpuShares",
                format!("its cpu request {milli}m would exceed the cpu limit, which Kubernetes does not allow"),
            ));
        }
        requests.insert("cpu".to_string(), Quantity(format!("{milli}m")));
    }
    if limits.is_empty() && requests.is_empty() {
        return Ok(None);
    }
    let non_empty = |m: BTreeMap<String, Quantity>| (!m.is_empty()).then_some(m);
    Ok(Some(ResourceRequirements { limits: non_empty(limits), requests: non_empty(requests), ..Default::default() }))
}

fn memory_limit(hc: &HostConfig) -> Result<Option<i64>, TranslateError> {
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory == 0 && swap > 0 {
        return Err(invalid("You should always set the Memory limit when using Memoryswap limit, see usage"));
    }
    if swap > 0 && swap < memory {
        return Err(invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
    }
    if swap != 0 && swap != memory {
        return Err(TranslateError::unsupported(
            "MemorySwap",
            "swap is a node setting in Kubernetes; only MemorySwap equal to Memory (no swap) can be honoured",
        ));
    }
    Ok((memory > 0).then_some(memory))
}

fn memory_reservation(hc: &HostConfig) -> Result<Option<i64>, TranslateError> {
    let reservation = hc.memory_reservation.unwrap_or(0);
    let memory = hc.memory.unwrap_or(0);
    if reservation != 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > memory {
        return Err(invalid("Minimum memory limit can not be less than memory reservation limit, see usage"));
    }
    Ok((reservation > 0).then_some(reservation))
}

fn cpu_limit_millis(hc: &HostConfig) -> Result<Option<i64>, TranslateError> {
    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
    }
    if nano != 0 && nano < 10_000_000 {
        return Err(invalid("Range of CPUs is from 0.01 to the number of CPUs available (NanoCpus from 10000000)"));
    }
    if period != 0 && !(1_000..=1_000_000).contains(&period) {
        return Err(invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"));
    }
    if (quota > 0 && quota < 1_000) || quota < -1 {
        return Err(invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if nano > 0 {
        return Ok(Some(ceil_div(nano, 1_000_000)));
    }
    if quota > 0 {
        let period = if period == 0 { DEFAULT_CPU_PERIOD } else { period };
        return Ok(Some(ceil_div(quota.saturating_mul(1_000), period)));
    }
    Ok(None)
}

fn cpu_request_millis(hc: &HostConfig) -> Option<i64> {
    let shares = hc.cpu_shares.unwrap_or(0);
    (shares != 0).then(|| ceil_div(shares.max(MIN_CPU_SHARES).saturating_mul(1_000), 1_024))
}

/// Ceiling division for a positive divisor and a non-negative dividend.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_cpu_shares_are_refused() {
        let hc = HostConfig { cpu_shares: Some(-1), ..Default::default() };
        assert_eq!(
            resources(&hc).unwrap_err().to_string(),
            "invalid CPU shares (-1): value must be a positive integer"
        );
    }

    fn q(rr: &ResourceRequirements, which: &str, key: &str) -> Option<String> {
        let map = if which == "limits" { rr.limits.as_ref() } else { rr.requests.as_ref() };
        map.and_then(|m| m.get(key)).map(|q| q.0.clone())
    }

    #[test]
    fn nothing_set_gives_no_resources() {
        assert_eq!(resources(&HostConfig { memory_swappiness: Some(-1), ..Default::default() }).unwrap(), None);
    }

    #[test]
    fn cpu_formulas() {
        let hc = HostConfig { nano_cpus: Some(1_500_000_000), cpu_shares: Some(512), ..Default::default() };
        let rr = resources(&hc).unwrap().unwrap();
        assert_eq!(q(&rr, "limits", "cpu").as_deref(), Some("1500m"));
        assert_eq!(q(&rr, "requests", "cpu").as_deref(), Some("500m"));

        let hc = HostConfig { cpu_quota: Some(50_000), cpu_period: Some(200_000), ..Default::default() };
        assert_eq!(q(&resources(&hc).unwrap().unwrap(), "limits", "cpu").as_deref(), Some("250m"));
        let hc = HostConfig { cpu_quota: Some(150_000), ..Default::default() };
        assert_eq!(q(&resources(&hc).unwrap().unwrap(), "limits", "cpu").as_deref(), Some("1500m"));
        let hc = HostConfig { cpu_shares: Some(1), ..Default::default() };
        assert_eq!(q(&resources(&hc).unwrap().unwrap(), "requests", "cpu").as_deref(), Some("2m"));
    }

    #[test]
    fn docker_resource_checks_use_dockers_words() {
        let cases = [
            (HostConfig { memory: Some(1024), ..Default::default() }, "Minimum memory limit allowed is 6MB"),
            (
                HostConfig { memory: Some(8 << 20), memory_reservation: Some(16 << 20), ..Default::default() },
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
            (
                HostConfig { nano_cpus: Some(1_000_000_000), cpu_period: Some(100_000), ..Default::default() },
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ),
            (
                HostConfig { cpu_quota: Some(10), ..Default::default() },
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ),
        ];
        for (hc, msg) in cases {
            assert_eq!(resources(&hc).unwrap_err(), TranslateError::InvalidParameter(msg.to_string()));
        }
    }

    #[test]
    fn swap_other_than_none_is_unsupported_and_shares_above_limit_too() {
        let hc = HostConfig { memory: Some(8 << 20), memory_swap: Some(-1), ..Default::default() };
        assert!(resources(&hc).unwrap_err().to_string().starts_with("MemorySwap is not supported"));
        let hc = HostConfig { memory: Some(8 << 20), memory_swap: Some(8 << 20), ..Default::default() };
        assert!(resources(&hc).is_ok());
        let hc = HostConfig { nano_cpus: Some(500_000_000), cpu_shares: Some(2048), ..Default::default() };
        assert!(resources(&hc).unwrap_err().to_string().starts_with("CpuShares is not supported"));
    }
}
