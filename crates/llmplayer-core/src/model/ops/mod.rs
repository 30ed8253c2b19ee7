//! Shared building blocks of the transformer engines (llama.cpp `build_norm`, rope,
//! `build_attn`, `build_ffn`).

pub mod attention;
pub mod deltanet;
pub mod expf;
pub mod f32dot;
pub mod flash;
pub mod ffn;
pub mod norm;
pub mod rope;
pub mod ssm;
pub mod wkv6;
pub mod wkv7;
pub mod glibc;
mod grouped;
pub mod latent;
