//! The Spiking Heidelberg Digits / Spiking Speech Commands files (Cramer,
//! Stradmann, Schemmel, Zenke, IEEE TNNLS 2020) as an [`EventDataset`].
//!
//! # Layout (HDF5)
//!
//! | dataset | type | meaning |
//! | --- | --- | --- |
//! | `spikes/times` | `(n,)` variable-length float (16/32/64-bit) | event times of each sample, seconds |
//! | `spikes/units` | `(n,)` variable-length integer | channel of each event (0..700 for SHD/SSC) |
//! | `labels` | `(n,)` integer | class of each sample |
//!
//! Any other entry (`extra/...`) is ignored. The samples are streamed: the
//! variable-length references are read a block of rows at a time and each
//! sample's values from the file's global heap (one heap collection cached),
//! so memory holds the events as the [`EventDataset`] keeps them (8 bytes an
//! event) and never the file. Every sample's duration is the largest time in
//! the file; the channels are [`CHANNELS`] (the cochlea model's), or more if
//! a unit says so.
//!
//! `hdf5-pure` ([`crate::io::hdf5`]) reads everything but the values of
//! variable-length sequences, which it does not expose: they live in HDF5
//! global heap collections (`GCOL`), whose layout (HDF5 File Format
//! Specification, III.E) is simple enough to read here.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use hdf5_pure::{Datatype, DatatypeByteOrder};

use super::streams::EventDataset;
use crate::error::{Error, Result};

/// Input channels of SHD and SSC (the cochlea model's 700 hair cells).
pub const CHANNELS: usize = 700;

/// Rows of variable-length references read at once.
const BLOCK: u64 = 512;

/// How the values of a variable-length dataset are stored.
#[derive(Clone, Copy, Debug)]
enum Element {
    Float(usize),
    Int { size: usize, signed: bool },
}

fn element(path: &Path, name: &str, dt: &Datatype) -> Result<Element> {
    let bad = |what: String| Error::format(path, format!("dataset '{name}': {what}"));
    let Datatype::VariableLength {
        is_string: false,
        base_type,
        ..
    } = dt
    else {
        return Err(bad(format!(
            "expected variable-length numbers per sample (SHD layout), found {dt:?}"
        )));
    };
    match base_type.as_ref() {
        Datatype::FloatingPoint {
            size, byte_order, ..
        } if matches!(size, 2 | 4 | 8) && *byte_order == DatatypeByteOrder::LittleEndian => {
            Ok(Element::Float(*size as usize))
        }
        Datatype::FixedPoint {
            size,
            byte_order,
            layout,
        } if matches!(size, 1 | 2 | 4 | 8) && *byte_order == DatatypeByteOrder::LittleEndian => {
            Ok(Element::Int {
                size: *size as usize,
                signed: layout.signed,
            })
        }
        other => Err(bad(format!("unsupported element type {other:?}"))),
    }
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: f · 2⁻²⁴
            let v = f as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

fn decode(el: Element, bytes: &[u8], out: &mut Vec<f64>) {
    match el {
        Element::Float(2) => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f64::from(f16_to_f32(u16::from_le_bytes([c[0], c[1]])))),
        ),
        Element::Float(4) => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))),
        ),
        Element::Float(_) => out.extend(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap())),
        ),
        Element::Int { size, signed } => out.extend(bytes.chunks_exact(size).map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            if signed && c[size - 1] & 0x80 != 0 {
                for x in &mut b[size..] {
                    *x = 0xff;
                }
            }
            i64::from_le_bytes(b) as f64
        })),
    }
}

fn element_size(el: Element) -> usize {
    match el {
        Element::Float(s) | Element::Int { size: s, .. } => s,
    }
}

/// One global heap collection: where it lies, its bytes, and where each
/// object's data starts and how long it is.
struct Collection {
    address: u64,
    bytes: Vec<u8>,
    objects: HashMap<u16, (usize, usize)>,
}

/// Reads objects out of global heap collections, keeping the last one.
struct GlobalHeap {
    file: File,
    cached: Option<Collection>,
}

impl GlobalHeap {
    /// The bytes of object `index` of the collection at `address`.
    fn object(&mut self, path: &Path, address: u64, index: u16) -> Result<&[u8]> {
        let corrupt = |m: String| Error::format(path, format!("global heap at {address}: {m}"));
        if self.cached.as_ref().is_none_or(|c| c.address != address) {
            let mut head = [0u8; 16];
            self.file
                .seek(SeekFrom::Start(address))
                .and_then(|_| self.file.read_exact(&mut head))
                .map_err(|e| Error::io(path, e))?;
            if &head[..4] != b"GCOL" || head[4] != 1 {
                return Err(corrupt("not a global heap collection".into()));
            }
            let size = u64::from_le_bytes(head[8..16].try_into().unwrap());
            let file_len = self.file.metadata().map_err(|e| Error::io(path, e))?.len();
            if size < 16 || address.saturating_add(size) > file_len {
                return Err(corrupt(format!(
                    "collection of {size} bytes runs past the file end"
                )));
            }
            let mut bytes = vec![0u8; size as usize];
            self.file
                .seek(SeekFrom::Start(address))
                .and_then(|_| self.file.read_exact(&mut bytes))
                .map_err(|e| Error::io(path, e))?;
            let mut objects = HashMap::new();
            let mut at = 16usize;
            while at + 16 <= bytes.len() {
                let id = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
                let len = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
                if id == 0 {
                    break; // free space: the rest of the collection
                }
                let start = at + 16;
                if start + len > bytes.len() {
                    return Err(corrupt(format!("object {id} runs past its collection")));
                }
                objects.insert(id, (start, len));
                at = start + len.div_ceil(8) * 8;
            }
            self.cached = Some(Collection {
                address,
                bytes,
                objects,
            });
        }
        let Collection { bytes, objects, .. } = self.cached.as_ref().unwrap();
        let &(start, len) = objects
            .get(&index)
            .ok_or_else(|| corrupt(format!("no object {index}")))?;
        Ok(&bytes[start..start + len])
    }
}

/// One variable-length dataset read a block of rows at a time.
struct Ragged<'a> {
    name: &'static str,
    ds: hdf5_pure::Dataset,
    el: Element,
    refs: Vec<u8>,
    first: u64,
    path: &'a Path,
}

impl Ragged<'_> {
    /// The values of row `i` (rows must be asked in increasing order).
    fn row(&mut self, i: u64, n: u64, heap: &mut GlobalHeap, out: &mut Vec<f64>) -> Result<()> {
        const REF: usize = 16; // u32 length, u64 collection address, u32 object index
        if i < self.first || i >= self.first + (self.refs.len() / REF) as u64 {
            let k = BLOCK.min(n - i);
            self.refs = self
                .ds
                .read_raw_rows(i, k)
                .map_err(|e| Error::format(self.path, format!("dataset '{}': {e}", self.name)))?;
            if self.refs.len() != k as usize * REF {
                return Err(Error::format(
                    self.path,
                    format!(
                        "dataset '{}': unexpected variable-length reference size",
                        self.name
                    ),
                ));
            }
            self.first = i;
        }
        let at = (i - self.first) as usize * REF;
        let r = &self.refs[at..at + REF];
        let count = u32::from_le_bytes(r[0..4].try_into().unwrap()) as usize;
        let address = u64::from_le_bytes(r[4..12].try_into().unwrap());
        let index = u32::from_le_bytes(r[12..16].try_into().unwrap());
        out.clear();
        if count == 0 {
            return Ok(());
        }
        let index = u16::try_from(index).map_err(|_| {
            Error::format(
                self.path,
                format!("dataset '{}': sample {i}: bad heap index", self.name),
            )
        })?;
        let bytes = heap.object(self.path, address, index)?;
        let need = count * element_size(self.el);
        if bytes.len() < need {
            return Err(Error::format(
                self.path,
                format!(
                    "dataset '{}': sample {i} claims {count} values but its heap object holds {} bytes",
                    self.name,
                    bytes.len()
                ),
            ));
        }
        decode(self.el, &bytes[..need], out);
        Ok(())
    }
}

/// Reads an SHD/SSC-layout file (module docs). `n_classes` (else the
/// largest label + 1) fixes the classes. Every inconsistency (a missing
/// dataset, lengths that differ, a negative unit or label, a time that is
/// negative or not finite) is an error naming the file and the problem.
pub fn read_shd(path: &Path, n_classes: Option<usize>) -> Result<EventDataset> {
    let file = hdf5_pure::File::open_streaming(path).map_err(|e| match e {
        hdf5_pure::Error::Io(io) => Error::io(path, io),
        e => Error::format(path, format!("not a readable HDF5 file: {e}")),
    })?;
    if file.superblock().offset_size != 8 || file.superblock().length_size != 8 {
        return Err(Error::format(
            path,
            "only 8-byte HDF5 offsets are supported",
        ));
    }
    let open = |name: &str| {
        file.dataset(name).map_err(|_| {
            Error::format(
                path,
                format!(
                    "missing dataset '{name}': an SHD/SSC file holds spikes/times, spikes/units and labels"
                ),
            )
        })
    };
    let (times, units, labels) = (
        open("spikes/times")?,
        open("spikes/units")?,
        open("labels")?,
    );
    let rows = |ds: &hdf5_pure::Dataset, name: &str| -> Result<u64> {
        let shape = ds
            .shape()
            .map_err(|e| Error::format(path, format!("dataset '{name}': {e}")))?;
        match shape.as_slice() {
            [n] => Ok(*n),
            s => Err(Error::format(
                path,
                format!("dataset '{name}' has shape {s:?}, expected one row per sample"),
            )),
        }
    };
    let n = rows(&labels, "labels")?;
    for (ds, name) in [(&times, "spikes/times"), (&units, "spikes/units")] {
        let m = rows(ds, name)?;
        if m != n {
            return Err(Error::format(
                path,
                format!("'{name}' has {m} samples but 'labels' has {n}"),
            ));
        }
    }
    if n == 0 {
        return Err(Error::format(path, "no samples (labels is empty)"));
    }
    let labels: Vec<i64> = labels
        .read_i64()
        .map_err(|e| Error::format(path, format!("dataset 'labels': {e}")))?;
    if let Some(i) = labels.iter().position(|&l| !(0..1_000_000).contains(&l)) {
        return Err(Error::format(
            path,
            format!(
                "sample {i} has label {}: expected a class in 0..10⁶",
                labels[i]
            ),
        ));
    }
    let dtype = |ds: &hdf5_pure::Dataset, name: &str| {
        ds.datatype()
            .map_err(|e| Error::format(path, format!("dataset '{name}': {e}")))
    };
    let t_el = element(path, "spikes/times", &dtype(&times, "spikes/times")?)?;
    let u_el = element(path, "spikes/units", &dtype(&units, "spikes/units")?)?;
    if !matches!(t_el, Element::Float(_)) || !matches!(u_el, Element::Int { .. }) {
        return Err(Error::format(
            path,
            "spikes/times must hold floats and spikes/units integers",
        ));
    }
    let mut heap = GlobalHeap {
        file: File::open(path).map_err(|e| Error::io(path, e))?,
        cached: None,
    };
    let ragged = |name, ds, el| Ragged {
        name,
        ds,
        el,
        refs: Vec::new(),
        first: 0,
        path,
    };
    let mut t_rows = ragged("spikes/times", times, t_el);
    let mut u_rows = ragged("spikes/units", units, u_el);
    let mut out = EventDataset {
        n_channels: 0,
        duration: 0.0,
        times: Vec::new(),
        channels: Vec::new(),
        offsets: vec![0],
        labels: labels.iter().map(|&l| l as usize).collect(),
        n_classes: 0,
    };
    let (mut tv, mut uv) = (Vec::new(), Vec::new());
    let mut max_unit = 0u32;
    for i in 0..n {
        t_rows.row(i, n, &mut heap, &mut tv)?;
        u_rows.row(i, n, &mut heap, &mut uv)?;
        if tv.len() != uv.len() {
            return Err(Error::format(
                path,
                format!("sample {i} has {} times but {} units", tv.len(), uv.len()),
            ));
        }
        for (k, (&t, &u)) in tv.iter().zip(&uv).enumerate() {
            if !(t.is_finite() && t >= 0.0) {
                return Err(Error::format(
                    path,
                    format!("sample {i}, event {k}: time {t} is not a finite time >= 0"),
                ));
            }
            if !(0.0..=f64::from(u32::MAX - 1)).contains(&u) {
                return Err(Error::format(
                    path,
                    format!(
                        "sample {i}, event {k}: unit {u} is not a channel (negative or too large)"
                    ),
                ));
            }
            let t = t as f32;
            out.duration = out.duration.max(t);
            out.times.push(t);
            out.channels.push(u as u32);
            max_unit = max_unit.max(u as u32);
        }
        out.offsets.push(out.times.len());
    }
    if out.times.is_empty() {
        return Err(Error::format(path, "no events in any sample"));
    }
    if out.duration <= 0.0 {
        out.duration = 1.0;
    }
    out.n_channels = CHANNELS.max(max_unit as usize + 1);
    let seen = out.labels.iter().max().map_or(0, |&l| l + 1);
    out.n_classes = match n_classes {
        Some(c) if c < seen => {
            return Err(Error::format(
                path,
                format!("a sample has label {} but there are {c} classes", seen - 1),
            ));
        }
        Some(c) => c,
        None => seen,
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_floats_decode() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x7bff, 65504.0),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
    }
}
