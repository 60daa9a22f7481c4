//! The content of each image: a config blob and one layer blob (a real gzip-wrapped tar holding
//! one small file), and the manifest that names them by size and `sha256` digest, so that a
//! standard client can fetch and verify every piece of a pull.

use serde_json::json;

use crate::crypto::sha256_hex;
use crate::model::Registry;

/// The Docker v2 manifest media type.
pub(crate) const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The OCI v1 manifest media type.
pub(crate) const OCI_V1: &str = "application/vnd.oci.image.manifest.v1+json";

/// A tar archive with one regular file (ustar headers, two zero blocks at the end).
fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"14700000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// CRC-32 (IEEE), as gzip's trailer needs it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `data` in the gzip format, with deflate "stored" blocks (valid, uncompressed).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(c.len()).unwrap_or(u16::MAX);
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    out
}

/// An image's blobs: the config and the single layer, and the layer's uncompressed digest.
pub(crate) struct Image {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// The blobs of `registry/repo:tag` (deterministic).
pub(crate) fn image(reg: &Registry, repo: &str, tag: &str) -> Image {
    let seed = format!("{}/{repo}:{tag}", reg.name);
    let tar = tar_with(
        "hello.txt",
        format!("Hello from {seed} (azure-sim)\n").as_bytes(),
    );
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2025-01-01T00:00:00Z",
        "config": {"Cmd": ["cat", "/hello.txt"], "Labels": {"org.opencontainers.image.ref.name": seed}},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
        "history": [{"created": "2025-01-01T00:00:00Z", "created_by": "azure-sim"}],
    })
    .to_string()
    .into_bytes();
    Image {
        config,
        layer: gzip_stored(&tar),
    }
}

/// `sha256:<hex>` of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The manifest of `registry/repo:tag` in Docker v2 or OCI form, naming the image's blobs.
pub(crate) fn manifest(reg: &Registry, repo: &str, tag: &str, media: &str) -> Vec<u8> {
    let (config_type, layer_type) = if media == OCI_V1 {
        (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    } else {
        (
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    };
    let img = image(reg, repo, tag);
    json!({
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": config_type, "size": img.config.len(), "digest": digest(&img.config)},
        "layers": [{"mediaType": layer_type, "size": img.layer.len(), "digest": digest(&img.layer)}],
    })
    .to_string()
    .into_bytes()
}

/// The blob of `repo` with `wanted` digest, among the images of its `tags`.
pub(crate) fn find(reg: &Registry, repo: &str, tags: &[String], wanted: &str) -> Option<Vec<u8>> {
    tags.iter().find_map(|t| {
        let img = image(reg, repo, t);
        [img.config, img.layer]
            .into_iter()
            .find(|b| digest(b).eq_ignore_ascii_case(wanted))
    })
}

#[cfg(test)]
mod tests {
    use super::{crc32, gzip_stored, tar_with};

    #[test]
    fn crc_and_containers() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let tar = tar_with("a.txt", b"hi\n");
        assert_eq!(tar.len(), 512 + 512 + 1024);
        assert_eq!(&tar[257..262], b"ustar");
        let gz = gzip_stored(&tar);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(gz.len(), 10 + 5 + tar.len() + 8);
    }
}
