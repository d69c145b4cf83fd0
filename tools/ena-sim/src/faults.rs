//! The fault schedule: `--fault [PORT@]WHEN:NAME[:KEY=VALUE...]` turned into timed
//! [`ena_sim::fault::Fault`] injections.
//!
//! The names are the device model's own ([`Fault::name`]), plus the short aliases people reach
//! for first (`keepalive_stop`, `reset_request`, ...). Times count from the moment every device
//! is up (the ready line), so a schedule means the same thing on a slow and a fast machine.

use ena_sim::fault::Fault;
use std::time::Duration;

/// When a scheduled fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Once, this long after the devices are up.
    At(Duration),
    /// Repeatedly, every period (first after one period).
    Every(Duration),
}

/// One entry of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFault {
    /// Port index, or `None` for every port.
    pub port: Option<PortSelector>,
    /// When it fires.
    pub when: When,
    /// What is injected.
    pub fault: Fault,
    /// The text as given (for messages and the JSON event lines).
    pub text: String,
}

/// Which port a fault is meant for, before the ports are known (index or PCI address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSelector {
    /// `0@...`: the port's index.
    Index(usize),
    /// `0000:00:10.0@...`: the port's PCI address.
    Bdf(String),
}

/// The fault names and their options, for `--help` and error messages.
pub const FAULT_TABLE: &str =
    "  link_down | link_up                      take the link down / bring it up (AENQ LINK_CHANGE)
  link_flap[:down=DUR]                     link down for DUR (default 1s), then up
  keepalive_stop | keepalive_resume        stop / resume KEEP_ALIVE events (the driver's
                                           watchdog then resets the device)
  fatal_error                              DEV_STS fatal error + FATAL_ERROR event
  reset_request                            DEVICE_REQUEST_RESET event
  admin_delay:delay=DUR[:opcode=N][:count=N]   complete admin commands late
  admin_error[:status=N][:opcode=N][:count=N]  fail admin commands (status default 6, unknown)
  admin_timeout[:opcode=N][:count=N]       never complete admin commands
  drop_tx_completions | bad_tx_req_id | stale_tx_req_id | wrong_tx_phase | tx_cdesc_mbz
      [:queue=N][:count=N]                 corrupt the next TX completions (count default 1)
  delay_tx_completions:delay=DUR[:queue=N] | resume_tx_completions
  bad_rx_req_id | bad_rx_length | rx_cdesc_mbz | rx_missing_last [:queue=N][:count=N]
  The model's own names (stop_keep_alive, device_request_reset, ...) work too.";

/// Parses a duration: `250ms`, `2s`, `1.5s`, `100us`, `1m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        _ => return Err(format!("'{text}' is not a duration (e.g. 500ms, 2s, 1.5)")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 500ms, 2s, 1.5)"))?;
    let secs = value * scale;
    // A year is more than any run; the bound keeps from_secs_f64 from panicking.
    if !secs.is_finite() || !(0.0..=31_536_000.0).contains(&secs) {
        return Err(format!("duration '{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses one `--fault` value: `[PORT@]WHEN:NAME[:KEY=VALUE...]`.
pub fn parse_fault(text: &str) -> Result<ScheduledFault, String> {
    let bad = |m: String| format!("--fault '{text}': {m}");
    let (port, rest) = match text.split_once('@') {
        Some((p, rest)) => {
            let sel = match (p.parse::<usize>(), crate::device_spec::parse_bdf(p)) {
                (Ok(i), _) => PortSelector::Index(i),
                (_, Ok(bdf)) => PortSelector::Bdf(bdf),
                _ => {
                    return Err(bad(format!(
                        "'{p}' before '@' is neither a port index nor a PCI address"
                    )))
                }
            };
            (Some(sel), rest)
        }
        None => (None, text),
    };
    let mut parts = rest.split(':');
    let when_text = parts.next().unwrap_or_default();
    let when = if let Some(period) = when_text.strip_prefix("every=") {
        let d = parse_duration(period).map_err(bad)?;
        if d < Duration::from_millis(1) {
            return Err(bad("every= needs a period of at least 1ms".into()));
        }
        When::Every(d)
    } else {
        When::At(parse_duration(when_text).map_err(|_| {
            bad(format!(
                "'{when_text}' is not a time (2s, 500ms, or every=3s); the form is [PORT@]WHEN:NAME[:KEY=VALUE...]"
            ))
        })?)
    };
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no fault name after the time (e.g. 2s:link_flap)".into()))?;
    let mut opts = FaultOptions::default();
    for kv in parts {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| bad(format!("option '{kv}' is not KEY=VALUE")))?;
        opts.set(k, v).map_err(bad)?;
    }
    let fault = build_fault(name, &opts).map_err(bad)?;
    Ok(ScheduledFault {
        port,
        when,
        fault,
        text: text.to_string(),
    })
}

/// The options a fault may take, as given.
#[derive(Debug, Default)]
struct FaultOptions {
    count: Option<u32>,
    queue: Option<u16>,
    opcode: Option<u8>,
    status: Option<u8>,
    delay: Option<Duration>,
    down: Option<Duration>,
    given: Vec<&'static str>,
}

impl FaultOptions {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T, String> {
            value
                .parse()
                .map_err(|_| format!("{key}={value} is not {what}"))
        }
        let key: &'static str = match key {
            "count" => {
                let n: u32 = num(key, value, "a count (1..4294967295)")?;
                if n == 0 {
                    return Err("count=0 would inject nothing".into());
                }
                self.count = Some(n);
                "count"
            }
            "queue" => {
                self.queue = Some(num(key, value, "a queue index (0..65535)")?);
                "queue"
            }
            "opcode" => {
                self.opcode = Some(num(key, value, "an admin opcode (0..255)")?);
                "opcode"
            }
            "status" => {
                self.status = Some(num(key, value, "an admin status (1..255)")?);
                if self.status == Some(0) {
                    return Err("status=0 is success, not an error".into());
                }
                "status"
            }
            "delay" => {
                self.delay = Some(parse_duration(value)?);
                "delay"
            }
            "down" => {
                self.down = Some(parse_duration(value)?);
                "down"
            }
            _ => {
                return Err(format!(
                    "unknown option '{key}' (count, queue, opcode, status, delay, down)"
                ))
            }
        };
        if self.given.contains(&key) {
            return Err(format!("option '{key}' given twice"));
        }
        self.given.push(key);
        Ok(())
    }

    /// Refuses options the fault does not take.
    fn only(&self, name: &str, allowed: &[&str]) -> Result<(), String> {
        match self.given.iter().find(|k| !allowed.contains(k)) {
            Some(k) if allowed.is_empty() => Err(format!("{name} takes no options (got '{k}')")),
            Some(k) => Err(format!(
                "{name} takes no option '{k}' (only {})",
                allowed.join(", ")
            )),
            None => Ok(()),
        }
    }
}

/// Status a failed admin command reports by default: ENA_ADMIN_UNKNOWN_ERROR (spec §4.3;
/// `ena_hw::admin::status::UNKNOWN_ERROR`), which drivers map to -EINVAL.
const DEFAULT_ADMIN_ERROR_STATUS: u8 = 6;
/// How long `link_flap` keeps the link down unless `down=` says otherwise.
const DEFAULT_FLAP: Duration = Duration::from_secs(1);

fn build_fault(name: &str, o: &FaultOptions) -> Result<Fault, String> {
    let count = o.count.unwrap_or(1);
    let queue = o.queue;
    const QUEUE_OPTS: &[&str] = &["queue", "count"];
    const ADMIN_OPTS: &[&str] = &["opcode", "count"];
    let f = match name {
        "link_down" => {
            o.only(name, &[])?;
            Fault::LinkDown
        }
        "link_up" => {
            o.only(name, &[])?;
            Fault::LinkUp
        }
        "link_flap" => {
            o.only(name, &["down"])?;
            Fault::LinkFlap {
                down_for: o.down.unwrap_or(DEFAULT_FLAP),
            }
        }
        "keepalive_stop" | "stop_keep_alive" => {
            o.only(name, &[])?;
            Fault::StopKeepAlive
        }
        "keepalive_resume" | "resume_keep_alive" => {
            o.only(name, &[])?;
            Fault::ResumeKeepAlive
        }
        "fatal_error" => {
            o.only(name, &[])?;
            Fault::FatalError
        }
        "reset_request" | "device_request_reset" => {
            o.only(name, &[])?;
            Fault::DeviceRequestReset
        }
        "admin_delay" => {
            o.only(name, &["delay", "opcode", "count"])?;
            Fault::AdminDelay {
                opcode: o.opcode,
                delay: o
                    .delay
                    .ok_or("admin_delay needs delay=DUR (e.g. admin_delay:delay=2s)")?,
                count,
            }
        }
        "admin_error" => {
            o.only(name, &["status", "opcode", "count"])?;
            Fault::AdminError {
                opcode: o.opcode,
                status: o.status.unwrap_or(DEFAULT_ADMIN_ERROR_STATUS),
                count,
            }
        }
        "admin_timeout" => {
            o.only(name, ADMIN_OPTS)?;
            Fault::AdminTimeout {
                opcode: o.opcode,
                count,
            }
        }
        "drop_tx_completions" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::DropTxCompletions { queue, count }
        }
        "delay_tx_completions" => {
            o.only(name, &["delay", "queue"])?;
            Fault::DelayTxCompletions {
                queue,
                delay: o
                    .delay
                    .ok_or("delay_tx_completions needs delay=DUR (e.g. delay=500ms)")?,
            }
        }
        "resume_tx_completions" => {
            o.only(name, &[])?;
            Fault::ResumeTxCompletions
        }
        "bad_tx_req_id" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::BadTxReqId { queue, count }
        }
        "stale_tx_req_id" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::StaleTxReqId { queue, count }
        }
        "wrong_tx_phase" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::WrongTxPhase { queue, count }
        }
        "tx_cdesc_mbz" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::TxCdescMbz { queue, count }
        }
        "bad_rx_req_id" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::BadRxReqId { queue, count }
        }
        "bad_rx_length" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::BadRxLength { queue, count }
        }
        "rx_cdesc_mbz" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::RxCdescMbz { queue, count }
        }
        "rx_missing_last" => {
            o.only(name, QUEUE_OPTS)?;
            Fault::RxMissingLast { queue, count }
        }
        _ => {
            return Err(format!(
                "unknown fault '{name}' (link_down, link_up, link_flap, keepalive_stop, keepalive_resume, \
                 fatal_error, reset_request, admin_delay, admin_error, admin_timeout, drop_tx_completions, \
                 delay_tx_completions, resume_tx_completions, bad_tx_req_id, stale_tx_req_id, wrong_tx_phase, \
                 tx_cdesc_mbz, bad_rx_req_id, bad_rx_length, rx_cdesc_mbz, rx_missing_last)"
            ))
        }
    };
    Ok(f)
}

/// Tracks when each scheduled fault is due next.
#[derive(Debug)]
pub struct Schedule {
    entries: Vec<(ScheduledFault, Vec<usize>, Duration)>,
}

impl Schedule {
    /// A schedule over resolved entries: each fault with the port indices it applies to.
    pub fn new(entries: Vec<(ScheduledFault, Vec<usize>)>) -> Self {
        Self {
            entries: entries
                .into_iter()
                .map(|(f, ports)| {
                    let first = match f.when {
                        When::At(d) | When::Every(d) => d,
                    };
                    (f, ports, first)
                })
                .collect(),
        }
    }

    /// The earliest time anything is due, if anything still is.
    pub fn next_due(&self) -> Option<Duration> {
        self.entries.iter().map(|e| e.2).min()
    }

    /// Takes everything due at `now`, in due order: (due time, fault, ports). A repeating fault
    /// that fell behind (the process was stopped) fires once per missed period.
    pub fn take_due(&mut self, now: Duration) -> Vec<(Duration, ScheduledFault, Vec<usize>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.entries.len() {
            let (f, ports, due) = &mut self.entries[i];
            if *due > now {
                i += 1;
                continue;
            }
            match f.when {
                When::At(_) => {
                    let (f, ports, due) = self.entries.remove(i);
                    out.push((due, f, ports));
                }
                When::Every(period) => {
                    while *due <= now {
                        out.push((*due, f.clone(), ports.clone()));
                        *due += period;
                    }
                    i += 1;
                }
            }
        }
        out.sort_by_key(|e| e.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1e400").is_err());
    }

    #[test]
    fn faults_map_to_the_model_variants() {
        let f = parse_fault("2s:link_flap").unwrap();
        assert_eq!(f.when, When::At(Duration::from_secs(2)));
        assert_eq!(f.port, None);
        assert_eq!(
            f.fault,
            Fault::LinkFlap {
                down_for: Duration::from_secs(1)
            }
        );
        let f = parse_fault("1@every=3s:keepalive_stop").unwrap();
        assert_eq!(f.port, Some(PortSelector::Index(1)));
        assert_eq!(f.when, When::Every(Duration::from_secs(3)));
        assert_eq!(f.fault, Fault::StopKeepAlive);
        let f = parse_fault("0000:00:11.0@500ms:drop_tx_completions:queue=2:count=5").unwrap();
        assert_eq!(f.port, Some(PortSelector::Bdf("0000:00:11.0".into())));
        assert_eq!(
            f.fault,
            Fault::DropTxCompletions {
                queue: Some(2),
                count: 5
            }
        );
        assert_eq!(
            parse_fault("1s:admin_error:opcode=3").unwrap().fault,
            Fault::AdminError {
                opcode: Some(3),
                status: 6,
                count: 1
            }
        );
        assert_eq!(
            parse_fault("1s:link_flap:down=200ms").unwrap().fault,
            Fault::LinkFlap {
                down_for: Duration::from_millis(200)
            }
        );
        assert_eq!(
            parse_fault("0s:device_request_reset").unwrap().fault,
            Fault::DeviceRequestReset
        );
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        let e = |s: &str| parse_fault(s).unwrap_err();
        assert!(
            e("2s:melt").contains("unknown fault 'melt'"),
            "{}",
            e("2s:melt")
        );
        assert!(e("soon:link_down").contains("'soon' is not a time"));
        assert!(e("2s").contains("no fault name"));
        assert!(e("2s:link_down:count=2").contains("link_down takes no options"));
        assert!(e("2s:admin_delay").contains("needs delay=DUR"));
        assert!(e("2s:bad_rx_req_id:count=0").contains("count=0"));
        assert!(e("2s:bad_rx_req_id:queue=x").contains("queue=x is not a queue index"));
        assert!(e("2s:bad_rx_req_id:count=1:count=2").contains("given twice"));
        assert!(e("x@2s:link_down").contains("neither a port index nor a PCI address"));
        assert!(e("every=0s:link_down").contains("at least 1ms"));
        assert!(e("2s:link_flap:delay=1s").contains("takes no option 'delay' (only down)"));
    }

    #[test]
    fn schedule_fires_once_and_repeatedly_in_order() {
        let entries = vec![
            (parse_fault("every=300ms:keepalive_stop").unwrap(), vec![0]),
            (parse_fault("200ms:link_down").unwrap(), vec![0, 1]),
        ];
        let mut s = Schedule::new(entries);
        assert_eq!(s.next_due(), Some(Duration::from_millis(200)));
        assert!(s.take_due(Duration::from_millis(100)).is_empty());
        let due = s.take_due(Duration::from_millis(650));
        let names: Vec<(u128, &str)> = due
            .iter()
            .map(|(d, f, _)| (d.as_millis(), f.fault.name()))
            .collect();
        assert_eq!(
            names,
            vec![
                (200, "link_down"),
                (300, "stop_keep_alive"),
                (600, "stop_keep_alive")
            ]
        );
        assert_eq!(due[0].2, vec![0, 1]);
        assert_eq!(s.next_due(), Some(Duration::from_millis(900)));
    }
}
