//! Small HDF5 files (NIR graphs) as a tree of groups, numeric arrays and
//! strings, read whole and written atomically.
//!
//! HDF5 is what the neuromorphic tools exchange (NIR graphs written by the
//! `nir` Python package through h5py; the SHD/SSC event files,
//! [`crate::snn::shd`]). The file format is read and written by `hdf5-pure`,
//! a pure-Rust implementation checked against libhdf5 in its own CI: a
//! fresh machine with only a Rust toolchain still builds everything, where
//! the `hdf5` bindings would make libhdf5 a mandatory system library. This
//! module only maps its groups and datasets onto a [`Tree`] and back, with
//! errors that name the file and the dataset. Files written here load in
//! h5py and `nir.read`; files h5py writes (gzip-compressed chunks and
//! variable-length strings included, as `nir.write` makes them) load here.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5_pure::{DType, File, FileBuilder, GroupBuilder};

use crate::error::{Error, Result};
use crate::io::atomic::write_bytes_atomic;

/// Element type of a numeric dataset: what it is written as and was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// Any integer type (read as, and written as, 64-bit signed).
    Int,
}

/// A numeric dataset: C-order values (held as `f64`, exact for every `f32`
/// and for integers below 2⁵³) and its shape (empty for a scalar).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions, outermost first; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<f64>,
    /// Element type on disk.
    pub kind: Kind,
}

impl Array {
    /// A 1-D (`shape = [n]`) or scalar (`shape = []`) array.
    pub fn new(shape: Vec<usize>, data: Vec<f64>, kind: Kind) -> Self {
        Array { shape, data, kind }
    }

    /// A scalar.
    pub fn scalar(value: f64, kind: Kind) -> Self {
        Array::new(Vec::new(), vec![value], kind)
    }
}

/// One entry of a group.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A subgroup.
    Group(Tree),
    /// A numeric dataset.
    Array(Array),
    /// A string dataset (variable-length UTF-8 when written here), with its
    /// shape (`[]` for one string).
    Strings {
        /// Dimensions; `[]` for a scalar string.
        shape: Vec<usize>,
        /// Values in C order.
        values: Vec<String>,
    },
}

impl Entry {
    /// A scalar string.
    pub fn string(s: impl Into<String>) -> Entry {
        Entry::Strings {
            shape: Vec::new(),
            values: vec![s.into()],
        }
    }
}

/// A group: its entries by name.
pub type Tree = BTreeMap<String, Entry>;

fn h5_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("{what}: {e}"))
}

/// Reads the whole file at `path` into a tree. Datasets of a type the tree
/// has no place for (compound, references, variable-length sequences) are an
/// error naming the dataset.
pub fn read_tree(path: &Path) -> Result<Tree> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !hdf5_pure::is_hdf5_bytes(&bytes) {
        return Err(Error::format(path, "not an HDF5 file"));
    }
    let file = File::from_bytes(bytes).map_err(|e| h5_error(path, "unreadable HDF5", e))?;
    read_group(path, &file.root(), "")
}

fn read_group(path: &Path, g: &hdf5_pure::Group, at: &str) -> Result<Tree> {
    let mut tree = Tree::new();
    let names = g
        .datasets()
        .map_err(|e| h5_error(path, &format!("group '{at}/'"), e))?;
    for name in names {
        let full = format!("{at}/{name}");
        let ds = g
            .dataset(&name)
            .map_err(|e| h5_error(path, &format!("dataset '{full}'"), e))?;
        let bad = |e: hdf5_pure::Error| h5_error(path, &format!("dataset '{full}'"), e);
        let shape: Vec<usize> = ds
            .shape()
            .map_err(bad)?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let dtype = ds.dtype().map_err(bad)?;
        let entry = match dtype {
            DType::F32 | DType::F64 => Entry::Array(Array {
                shape,
                data: ds.read_f64().map_err(bad)?,
                kind: if dtype == DType::F32 {
                    Kind::F32
                } else {
                    Kind::F64
                },
            }),
            DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64 => Entry::Array(Array {
                shape,
                data: ds
                    .read_i64()
                    .map_err(bad)?
                    .into_iter()
                    .map(|v| v as f64)
                    .collect(),
                kind: Kind::Int,
            }),
            DType::String | DType::VariableLengthString => Entry::Strings {
                shape,
                values: ds.read_string().map_err(bad)?,
            },
            other => {
                return Err(Error::format(
                    path,
                    format!("dataset '{full}' has an unsupported datatype {other:?}"),
                ));
            }
        };
        tree.insert(name, entry);
    }
    let groups = g
        .groups()
        .map_err(|e| h5_error(path, &format!("group '{at}/'"), e))?;
    for name in groups {
        let full = format!("{at}/{name}");
        let sub = g
            .group(&name)
            .map_err(|e| h5_error(path, &format!("group '{full}'"), e))?;
        tree.insert(name, Entry::Group(read_group(path, &sub, &full)?));
    }
    Ok(tree)
}

/// Writes `tree` as an HDF5 file at `path`, atomically (a temporary file
/// renamed into place). Numeric datasets keep their [`Kind`]; strings are
/// variable-length UTF-8, as h5py's `string_dtype()` writes them.
pub fn write_tree(path: &Path, tree: &Tree) -> Result<()> {
    let mut b = FileBuilder::new();
    for (name, entry) in tree {
        match entry {
            Entry::Group(t) => {
                let mut g = b.create_group(name);
                fill_group(&mut g, t)?;
                b.add_group(g.finish());
            }
            Entry::Array(a) => {
                let ds = b.create_dataset(name);
                set_array(ds, a, name)?;
            }
            Entry::Strings { shape, values } => {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                b.create_dataset(name)
                    .with_vlen_strings(&refs)
                    .with_shape(&dims(shape));
            }
        }
    }
    let bytes = b
        .finish()
        .map_err(|e| h5_error(path, "cannot encode HDF5", e))?;
    write_bytes_atomic(path, &bytes)
}

fn dims(shape: &[usize]) -> Vec<u64> {
    shape.iter().map(|&d| d as u64).collect()
}

fn set_array(ds: &mut hdf5_pure::DatasetBuilder, a: &Array, name: &str) -> Result<()> {
    let n: usize = a.shape.iter().product();
    if n != a.data.len() {
        return Err(Error::Internal(format!(
            "dataset '{name}': shape {:?} holds {n} values, not {}",
            a.shape,
            a.data.len()
        )));
    }
    match a.kind {
        Kind::F32 => {
            let v: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
            ds.with_f32_data(&v);
        }
        Kind::F64 => {
            ds.with_f64_data(&a.data);
        }
        Kind::Int => {
            let v: Vec<i64> = a.data.iter().map(|&x| x as i64).collect();
            ds.with_i64_data(&v);
        }
    }
    ds.with_shape(&dims(&a.shape));
    Ok(())
}

fn fill_group(g: &mut GroupBuilder, tree: &Tree) -> Result<()> {
    for (name, entry) in tree {
        match entry {
            Entry::Group(t) => {
                let mut sub = g.create_group(name);
                fill_group(&mut sub, t)?;
                g.add_group(sub.finish());
            }
            Entry::Array(a) => set_array(g.create_dataset(name), a, name)?,
            Entry::Strings { shape, values } => {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                g.create_dataset(name)
                    .with_vlen_strings(&refs)
                    .with_shape(&dims(shape));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_survives_a_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.h5");
        let mut inner = Tree::new();
        inner.insert(
            "w".into(),
            Entry::Array(Array::new(
                vec![2, 3],
                vec![0.5, -1.0, 2.25, 3.0, f64::from(1e-7f32), 7.0],
                Kind::F32,
            )),
        );
        inner.insert("n".into(), Entry::Array(Array::scalar(12.0, Kind::Int)));
        inner.insert("dt".into(), Entry::Array(Array::scalar(1e-4, Kind::F64)));
        inner.insert("type".into(), Entry::string("Affine"));
        inner.insert(
            "edges".into(),
            Entry::Strings {
                shape: vec![2, 2],
                values: ["a", "b", "b", "ç"].map(String::from).to_vec(),
            },
        );
        let mut tree = Tree::new();
        tree.insert("node".into(), Entry::Group(inner));
        tree.insert("version".into(), Entry::string("1.0"));
        write_tree(&path, &tree).unwrap();
        assert_eq!(read_tree(&path).unwrap(), tree);
    }

    #[test]
    fn a_file_that_is_not_hdf5_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.nir");
        std::fs::write(&path, b"not hdf5 at all").unwrap();
        let e = read_tree(&path).unwrap_err().to_string();
        assert!(e.contains("x.nir") && e.contains("not an HDF5 file"), "{e}");
    }
}
