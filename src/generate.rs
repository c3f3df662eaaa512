//! Placeholder until the generator lands.
pub struct GenerateConfig { pub events: u64, pub seed: u64, pub anomaly_rate: f64, pub start_micros: i64 }
impl Default for GenerateConfig { fn default() -> Self { Self { events: 1000, seed: 42, anomaly_rate: 0.0, start_micros: 0 } } }
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GenerateStats { pub lines: u64, pub events: u64, pub anomalies: u64, pub projects: u64, pub tasks: u64 }
pub fn generate(_config: &GenerateConfig, _out: &mut dyn std::io::Write) -> std::io::Result<GenerateStats> { Ok(GenerateStats::default()) }
