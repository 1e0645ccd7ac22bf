//! Where training runs: the CPU (`ndarray`, always built) or an NVIDIA GPU (`cuda` feature).
//! A CUDA tensor op panics inside cudarc when no driver is present, so the GPU is probed first
//! and its absence is a clear error.

use std::path::Path;

use crate::TrainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Cpu => "CPU",
            Self::Cuda => "CUDA",
        })
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, TrainError> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(TrainError::Config(format!(
                "device `{other}` is unknown; use `cpu` or `cuda`"
            ))),
        }
    }
}

impl DeviceChoice {
    /// Model replicas the epochs run on this device: the configured number on the CPU (one
    /// per core by default); on CUDA the configured number or one per GPU, each GPU's kernels
    /// using all of it.
    pub fn replicas(self, config: &crate::config::TrainConfig) -> usize {
        match self {
            Self::Cpu => config.replicas_for(),
            Self::Cuda if config.replicas > 0 => config.replicas,
            Self::Cuda => Self::gpus(),
        }
    }

    /// The NVIDIA GPUs of this machine, by the driver's one folder per GPU under
    /// `/proc/driver/nvidia/gpus`; at least 1 (the device `check` has found a driver).
    pub fn gpus() -> usize {
        std::fs::read_dir("/proc/driver/nvidia/gpus")
            .map(|entries| entries.filter_map(Result::ok).count())
            .unwrap_or(0)
            .max(1)
    }

    /// Checks that this device can be used here, before any tensor touches it.
    pub fn check(self) -> Result<(), TrainError> {
        match self {
            Self::Cpu => Ok(()),
            Self::Cuda if !cfg!(feature = "cuda") => Err(TrainError::Device(
                "this binary was built without CUDA support; rebuild with `--features cuda`".into(),
            )),
            Self::Cuda => probe_nvidia_driver(),
        }
    }
}

/// The NVIDIA kernel driver and the user-space `libcuda` must both be present.
fn probe_nvidia_driver() -> Result<(), TrainError> {
    if !Path::new("/proc/driver/nvidia/version").exists() && !Path::new("/dev/nvidiactl").exists() {
        return Err(TrainError::Device(
            "no NVIDIA GPU driver on this machine (no /proc/driver/nvidia/version); use `--device cpu`"
                .into(),
        ));
    }
    let mut dirs: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/local/cuda/compat",
            "/usr/lib/wsl/lib",
            "/usr/local/nvidia/lib64",
        ]
        .map(str::to_owned),
    );
    if dirs
        .iter()
        .any(|d| Path::new(d).join("libcuda.so.1").exists())
    {
        Ok(())
    } else {
        Err(TrainError::Device(format!(
            "the NVIDIA driver is loaded but libcuda.so.1 is in none of {}; set LD_LIBRARY_PATH",
            dirs.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn cuda_is_refused_with_a_reason_when_unavailable() {
        assert!(DeviceChoice::Cpu.check().is_ok());
        if !cfg!(feature = "cuda") {
            let err = DeviceChoice::Cuda.check().unwrap_err().to_string();
            assert!(err.contains("--features cuda"), "{err}");
        }
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }
}
