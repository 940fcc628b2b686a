//! `.npz` archives (zip files of `.npy` arrays), above all the sparse CSR
//! matrices of `scipy.sparse.save_npz` / `load_npz`, the natural format for
//! sparse codes; plus generic named-array archives for other outputs.
//!
//! Reading is bounded: each entry's declared size must match what its `.npy`
//! header implies, and must be plausible for its compressed size, before
//! anything is decompressed; memory then grows only as real data arrives.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::error::{Error, Result};

use super::atomic::{AtomicFile, write_atomic};
use super::npy::{self, Dtype, NpyArray};

/// Deflate cannot expand data by more than about 1032:1; declared sizes
/// beyond this ratio (plus slack) can only come from a corrupt or hostile file.
const MAX_DEFLATE_RATIO: u64 = 1100;
const RATIO_SLACK: u64 = 64 * 1024;

/// A sparse matrix in compressed sparse row (CSR) form, as scipy stores it.
///
/// Row `i`'s nonzeros are `data[indptr[i]..indptr[i + 1]]`, in the columns
/// `indices[indptr[i]..indptr[i + 1]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CsrMatrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Stored values, `nnz` of them.
    pub data: Vec<f32>,
    /// Column of each stored value, each in `0..cols`.
    pub indices: Vec<i32>,
    /// `rows + 1` offsets into `data`/`indices`: non-decreasing, from 0 to `nnz`.
    pub indptr: Vec<i64>,
}

impl CsrMatrix {
    /// Builds a CSR matrix from a row-major dense matrix, keeping only the
    /// nonzero entries (in increasing column order, as scipy does).
    ///
    /// # Panics
    ///
    /// If `dense_row_major.len() != rows * cols` or `cols` exceeds `i32::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lca::io::npz::CsrMatrix;
    /// let m = CsrMatrix::from_dense_rows(2, 3, &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    /// assert_eq!((m.nnz(), m.indices.as_slice(), m.indptr.as_slice()), (1, &[1][..], &[0, 1, 1][..]));
    /// assert_eq!(m.to_dense_rows(), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    /// ```
    pub fn from_dense_rows(rows: usize, cols: usize, dense_row_major: &[f32]) -> CsrMatrix {
        assert_eq!(
            Some(dense_row_major.len()),
            rows.checked_mul(cols),
            "dense matrix of {rows}x{cols} needs rows*cols values"
        );
        assert!(
            i32::try_from(cols).is_ok(),
            "CSR column indices are 32-bit: {cols} columns is too many"
        );
        let mut data = Vec::new();
        let mut indices = Vec::new();
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0i64);
        if cols > 0 {
            for row in dense_row_major.chunks_exact(cols) {
                for (j, &v) in row.iter().enumerate() {
                    if v != 0.0 {
                        data.push(v);
                        indices.push(j as i32);
                    }
                }
                indptr.push(data.len() as i64);
            }
        } else {
            indptr.resize(rows + 1, 0);
        }
        CsrMatrix {
            rows,
            cols,
            data,
            indices,
            indptr,
        }
    }

    /// The matrix as row-major dense values; duplicate entries are summed
    /// (as scipy's `toarray` does).
    ///
    /// # Panics
    ///
    /// If the matrix is not valid (see [`CsrMatrix::validate`]).
    pub fn to_dense_rows(&self) -> Vec<f32> {
        let mut dense = vec![0.0f32; self.rows * self.cols];
        for i in 0..self.rows {
            let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
            for k in a..b {
                dense[i * self.cols + self.indices[k] as usize] += self.data[k];
            }
        }
        dense
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Checks the CSR invariants: `indptr` has `rows + 1` entries, starts at
    /// 0, never decreases and ends at `nnz`; `indices` has `nnz` entries, each
    /// in `0..cols`. Fails with [`Error::Shape`] describing the first problem.
    pub fn validate(&self) -> Result<()> {
        match self.problem() {
            None => Ok(()),
            Some(m) => Err(Error::Shape(m)),
        }
    }

    fn problem(&self) -> Option<String> {
        let nnz = self.data.len();
        if self.indices.len() != nnz {
            return Some(format!(
                "{} column indices for {nnz} values",
                self.indices.len()
            ));
        }
        if Some(self.indptr.len()) != self.rows.checked_add(1) {
            return Some(format!(
                "indptr has {} entries, expected rows + 1 = {}",
                self.indptr.len(),
                self.rows as u128 + 1
            ));
        }
        if self.indptr[0] != 0 {
            return Some(format!("indptr starts at {}, expected 0", self.indptr[0]));
        }
        if let Some(i) = self.indptr.windows(2).position(|w| w[1] < w[0]) {
            return Some(format!(
                "indptr decreases at row {i} ({} then {})",
                self.indptr[i],
                self.indptr[i + 1]
            ));
        }
        let last = self.indptr[self.rows];
        if last != nnz as i64 {
            return Some(format!("indptr ends at {last}, expected nnz = {nnz}"));
        }
        if let Some(k) = self
            .indices
            .iter()
            .position(|&j| j < 0 || j as u64 >= self.cols as u64)
        {
            return Some(format!(
                "column index {} at position {k} is outside 0..{}",
                self.indices[k], self.cols
            ));
        }
        None
    }
}

/// Atomically writes `m` as a compressed `.npz` exactly as
/// `scipy.sparse.save_npz(path, m)` would (entries `indices`, `indptr`,
/// `format` = `b'csr'`, `shape` (int64), `data` (float32); indices int32,
/// indptr int32 unless nnz needs int64), so `scipy.sparse.load_npz` reads it.
///
/// Fails with [`Error::Format`] naming the file if `m` is not a valid CSR
/// matrix.
///
/// # Examples
///
/// ```
/// use lca::io::npz::{self, CsrMatrix};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("codes.npz");
/// let m = CsrMatrix::from_dense_rows(2, 2, &[0.0, 3.0, 0.0, 0.0]);
/// npz::write_csr(&path, &m).unwrap();
/// assert_eq!(npz::read_csr(&path).unwrap(), m);
/// ```
pub fn write_csr(path: &Path, m: &CsrMatrix) -> Result<()> {
    if let Some(problem) = m.problem() {
        return Err(Error::format(
            path,
            format!("cannot write invalid CSR matrix: {problem}"),
        ));
    }
    let shape_err = |e| match e {
        Error::Shape(m) => Error::format(path, m),
        other => other,
    };
    let nnz = m.nnz();
    let indices = NpyArray::from_i32(vec![nnz], &m.indices).map_err(shape_err)?;
    let indptr = if i32::try_from(nnz).is_ok() {
        let narrow: Vec<i32> = m.indptr.iter().map(|&p| p as i32).collect();
        NpyArray::from_i32(vec![m.indptr.len()], &narrow)
    } else {
        NpyArray::from_i64(vec![m.indptr.len()], &m.indptr)
    }
    .map_err(shape_err)?;
    let format = NpyArray::bytes_scalar(b"csr");
    let shape = NpyArray::from_i64(vec![2], &[m.rows as i64, m.cols as i64]).map_err(shape_err)?;
    let data = NpyArray::from_f32(vec![nnz], &m.data).map_err(shape_err)?;
    write_npz(
        path,
        &[
            ("indices", &indices),
            ("indptr", &indptr),
            ("format", &format),
            ("shape", &shape),
            ("data", &data),
        ],
    )
}

/// Reads a CSR matrix saved by `scipy.sparse.save_npz` (compressed or not)
/// or by [`write_csr`].
///
/// Accepts data as float32 or float64 (rounded to f32), indices and indptr
/// as int32 or int64. Checks that `format` is `csr`, `shape` has two
/// dimensions, and all CSR invariants (see [`CsrMatrix::validate`]); any
/// failure is an error naming the file (and entry) and the problem.
pub fn read_csr(path: &Path) -> Result<CsrMatrix> {
    let mut archive = open_archive(path)?;
    let mut get = |name: &str| -> Result<NpyArray> {
        let entry = format!("{name}.npy");
        let index = archive.index_for_name(&entry).ok_or_else(|| {
            Error::format(
                path,
                format!("missing entry '{entry}': not a scipy.sparse .npz file"),
            )
        })?;
        Ok(read_entry(&mut archive, index, path)?.1)
    };
    let entry_err = |name: &str, msg: String| Error::format(path.join(format!("{name}.npy")), msg);

    let format = get("format")?;
    let format = format.to_byte_string().ok_or_else(|| {
        entry_err(
            "format",
            format!(
                "expected a byte string, found dtype {}",
                format.header.dtype
            ),
        )
    })?;
    if format != b"csr" {
        return Err(Error::format(
            path,
            format!(
                "sparse format '{}' is not supported: only CSR ('csr'); convert with m.tocsr()",
                String::from_utf8_lossy(&format)
            ),
        ));
    }

    let shape = get("shape")?;
    let shape_vals = shape
        .to_i64_vec()
        .filter(|v| v.len() == 2 && shape.header.shape.len() == 1);
    let (rows, cols) = match shape_vals.as_deref() {
        Some(&[r, c]) if r >= 0 && c >= 0 => (r as u64, c as u64),
        _ => {
            return Err(entry_err(
                "shape",
                format!(
                    "expected two non-negative integers, found dtype {} with shape {}",
                    shape.header.dtype,
                    npy::shape_string(&shape.header.shape)
                ),
            ));
        }
    };
    let (rows, cols) = match (usize::try_from(rows), usize::try_from(cols)) {
        (Ok(r), Ok(c)) if r < usize::MAX => (r, c),
        _ => {
            return Err(Error::format(
                path,
                format!("shape ({rows}, {cols}) is too large"),
            ));
        }
    };

    let one_d = |name: &str, a: &NpyArray| -> Result<()> {
        if a.header.shape.len() != 1 {
            return Err(entry_err(
                name,
                format!(
                    "expected a 1-D array, found shape {}",
                    npy::shape_string(&a.header.shape)
                ),
            ));
        }
        Ok(())
    };

    let indptr = get("indptr")?;
    one_d("indptr", &indptr)?;
    if indptr.len() != rows + 1 {
        return Err(Error::format(
            path,
            format!(
                "indptr has {} entries, expected rows + 1 = {}",
                indptr.len(),
                rows + 1
            ),
        ));
    }
    let indptr = indptr
        .to_i64_vec()
        .filter(|_| matches!(indptr.header.dtype, Dtype::I32 | Dtype::I64))
        .ok_or_else(|| {
            entry_err(
                "indptr",
                format!(
                    "unsupported dtype {}: expected int32 or int64",
                    indptr.header.dtype
                ),
            )
        })?;

    let indices = get("indices")?;
    one_d("indices", &indices)?;
    if !matches!(indices.header.dtype, Dtype::I32 | Dtype::I64) {
        return Err(entry_err(
            "indices",
            format!(
                "unsupported dtype {}: expected int32 or int64",
                indices.header.dtype
            ),
        ));
    }
    let indices: Vec<i32> = indices
        .to_i64_vec()
        .expect("integer dtype checked")
        .into_iter()
        .enumerate()
        .map(|(k, j)| {
            i32::try_from(j)
                .ok()
                .filter(|&j| j >= 0 && (j as u64) < cols as u64)
                .ok_or_else(|| {
                    Error::format(
                        path,
                        format!("column index {j} at position {k} is outside 0..{cols}"),
                    )
                })
        })
        .collect::<Result<_>>()?;

    let data = get("data")?;
    one_d("data", &data)?;
    let data = data.to_f32_vec().ok_or_else(|| {
        entry_err(
            "data",
            format!(
                "unsupported dtype {} for a matrix: expected float32 ('<f4') or float64 ('<f8')",
                data.header.dtype
            ),
        )
    })?;

    let m = CsrMatrix {
        rows,
        cols,
        data,
        indices,
        indptr,
    };
    if let Some(problem) = m.problem() {
        return Err(Error::format(
            path,
            format!("invalid CSR matrix: {problem}"),
        ));
    }
    Ok(m)
}

/// Atomically writes named arrays as a deflate-compressed `.npz`, like
/// `numpy.savez_compressed(path, name=array, ...)`: entry `name.npy` per
/// array, in the given order.
///
/// Names must be non-empty, unique, and free of `/`, `\` and NUL; otherwise
/// the call fails with [`Error::InvalidSetting`] before creating anything.
///
/// # Examples
///
/// ```
/// use lca::io::{npy::NpyArray, npz};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("spikes.npz");
/// let neuron = NpyArray::from_i64(vec![3], &[4, 0, 4]).unwrap();
/// let time = NpyArray::from_f32(vec![3], &[0.1, 0.2, 0.7]).unwrap();
/// npz::write_npz(&path, &[("neuron", &neuron), ("time", &time)]).unwrap();
/// let arrays = npz::read_npz(&path).unwrap();
/// assert_eq!(arrays[0].0, "neuron");
/// assert_eq!(arrays[1].1.to_f32_vec().unwrap(), [0.1, 0.2, 0.7]);
/// ```
pub fn write_npz(path: &Path, arrays: &[(&str, &NpyArray)]) -> Result<()> {
    check_arrays(path, arrays)?;
    write_atomic(path, |w| write_arrays(w, arrays))
}

/// Writes named arrays as a deflate-compressed `.npz` into the atomic file
/// `file` (not yet committed), for writers that commit in their own way
/// (checkpoints keep their previous version). Names are checked as by
/// [`write_npz`]; errors name the file's target.
pub fn write_npz_into(file: &mut AtomicFile, arrays: &[(&str, &NpyArray)]) -> Result<()> {
    let path = file.path().to_path_buf();
    check_arrays(&path, arrays)?;
    write_arrays(file.writer(), arrays).map_err(|e| Error::io(&path, e))
}

/// The checks of [`write_npz`] before anything is written.
fn check_arrays(path: &Path, arrays: &[(&str, &NpyArray)]) -> Result<()> {
    for (i, (name, array)) in arrays.iter().enumerate() {
        if name.is_empty() || name.contains(['/', '\\', '\0']) {
            return Err(Error::setting(
                "array_name",
                format!(
                    "cannot write {}: invalid array name {name:?}",
                    path.display()
                ),
            ));
        }
        if arrays[..i].iter().any(|(other, _)| other == name) {
            return Err(Error::setting(
                "array_name",
                format!(
                    "cannot write {}: array name {name:?} used twice",
                    path.display()
                ),
            ));
        }
        if array.header.data_len() != Some(array.bytes.len()) {
            return Err(Error::Shape(format!(
                "cannot write {}: array {name:?} bytes do not match its shape and dtype",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The zip archive of `arrays`, written to `w`. A failure (a full disk) is
/// returned as the operating system's error, and nothing is printed: see
/// [`QuietAfterFailure`].
fn write_arrays<W: Write + Seek>(w: W, arrays: &[(&str, &NpyArray)]) -> std::io::Result<()> {
    let plain = |e: ZipError| match e {
        ZipError::Io(e) => e,
        other => other.into(),
    };
    let mut zip = ZipWriter::new(QuietAfterFailure::new(w));
    for (name, array) in arrays {
        // Header is at most a few KiB; be generous when deciding on ZIP64.
        let large = array.bytes.len() as u64 + 65536 >= u32::MAX as u64;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(large);
        zip.start_file(format!("{name}.npy"), options)
            .map_err(plain)?;
        array.write_to(&mut zip)?;
    }
    zip.finish().map_err(plain)?;
    Ok(())
}

/// The byte sink of an archive being written: it forwards to `inner` until
/// the first failure, then accepts and discards everything (keeping track of
/// positions as a file would). `ZipWriter`'s `Drop` finalises an unfinished
/// archive and prints to stderr when that fails, which would add a second,
/// confusing line to the error we already return (and whose temporary file
/// is removed); after a failure it finalises quietly into nothing instead.
struct QuietAfterFailure<W> {
    inner: W,
    failed: bool,
    pos: u64,
    len: u64,
}

impl<W> QuietAfterFailure<W> {
    fn new(inner: W) -> Self {
        QuietAfterFailure {
            inner,
            failed: false,
            pos: 0,
            len: 0,
        }
    }

    /// Records a failure (a retryable interruption is not one).
    fn check<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            self.failed = true;
        }
        r
    }
}

impl<W: Write> Write for QuietAfterFailure<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if self.failed {
            buf.len()
        } else {
            let r = self.inner.write(buf);
            self.check(r)?
        };
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.failed {
            return Ok(());
        }
        let r = self.inner.flush();
        self.check(r)
    }
}

impl<W: Seek> Seek for QuietAfterFailure<W> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = if self.failed {
            let offset = |base: u64, d: i64| base.saturating_add_signed(d);
            match to {
                SeekFrom::Start(p) => p,
                SeekFrom::Current(d) => offset(self.pos, d),
                SeekFrom::End(d) => offset(self.len, d),
            }
        } else {
            let r = self.inner.seek(to);
            self.check(r)?
        };
        self.len = self.len.max(self.pos);
        Ok(self.pos)
    }
}

/// Reads the one array `name` (entry `name.npy`) of an `.npz` archive, with
/// the same checks as [`read_npz`]; the other entries are not decompressed.
///
/// ```
/// use lca::io::{npy::NpyArray, npz};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("two.npz");
/// let (a, b) = (NpyArray::from_i64(vec![1], &[7]).unwrap(), NpyArray::from_i64(vec![1], &[8]).unwrap());
/// npz::write_npz(&path, &[("a", &a), ("b", &b)]).unwrap();
/// assert_eq!(npz::read_npz_array(&path, "b").unwrap().to_i64_vec().unwrap(), [8]);
/// assert!(npz::read_npz_array(&path, "c").is_err());
/// ```
pub fn read_npz_array(path: &Path, name: &str) -> Result<NpyArray> {
    let mut archive = open_archive(path)?;
    let entry = format!("{name}.npy");
    let index = archive
        .index_for_name(&entry)
        .ok_or_else(|| Error::format(path, format!("no '{name}' array")))?;
    Ok(read_entry(&mut archive, index, path)?.1)
}

/// Reads every `.npy` entry of an `.npz` archive (compressed or stored), in
/// archive order, as `(name without ".npy", array)` pairs; other entries
/// (directories, non-`.npy` files) are skipped. Arrays are in stored order
/// (see [`NpyArray::into_c_order`]).
pub fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let mut archive = open_archive(path)?;
    let mut out = Vec::new();
    for index in 0..archive.len() {
        let name = match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            _ => continue,
        };
        let Some(stem) = name.strip_suffix(".npy") else {
            continue;
        };
        if stem.is_empty() || stem.ends_with('/') {
            continue;
        }
        let (_, array) = read_entry(&mut archive, index, path)?;
        out.push((stem.to_string(), array));
    }
    Ok(out)
}

type Archive = ZipArchive<BufReader<File>>;

fn open_archive(path: &Path) -> Result<Archive> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::format(path, "is a directory, not a .npz file"));
    }
    ZipArchive::new(BufReader::new(file)).map_err(|e| zip_error(path, e))
}

fn zip_error(path: &Path, e: ZipError) -> Error {
    match e {
        ZipError::Io(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => Error::io(path, io),
        ZipError::Io(_) => Error::format(path, "not a valid .npz (zip) archive: file is truncated"),
        other => Error::format(path, format!("not a valid .npz (zip) archive: {other}")),
    }
}

/// Reads entry `index` as a `.npy` array, checking its declared sizes first.
fn read_entry(archive: &mut Archive, index: usize, path: &Path) -> Result<(String, NpyArray)> {
    let entry = archive.by_index(index).map_err(|e| zip_error(path, e))?;
    let name = entry.name().map_err(|e| zip_error(path, e))?.into_owned();
    let entry_path = path.join(&name);
    let size = entry.size();
    let compressed = entry.compressed_size();
    let plausible = match entry.compression() {
        CompressionMethod::Stored => size == compressed,
        _ => {
            size <= compressed
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(RATIO_SLACK)
        }
    };
    if !plausible {
        return Err(Error::format(
            &entry_path,
            format!(
                "corrupt archive entry: {size} bytes uncompressed cannot come from {compressed} compressed bytes"
            ),
        ));
    }
    let array = npy::read_array_from(entry, Some(size), &entry_path).map_err(|e| match e {
        // The zip reader reports bad checksums and deflate streams this way.
        Error::Io {
            path,
            cause: source,
        } if source.kind() == std::io::ErrorKind::InvalidData => {
            Error::format(path, format!("corrupt archive entry: {source}"))
        }
        other => other,
    })?;
    Ok((name, array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A file that holds `room` bytes, then fails like a full disk.
    struct FullDisk {
        file: Cursor<Vec<u8>>,
        room: usize,
        writes_after_failure: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.file.get_ref().len() + buf.len() > self.room {
                self.writes_after_failure += 1;
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            self.file.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.file.seek(to)
        }
    }

    #[test]
    fn a_full_disk_returns_its_error_and_the_abandoned_archive_writes_nothing_more() {
        let values: Vec<f32> = (0..20_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let a = NpyArray::from_f32(vec![values.len()], &values).unwrap();
        for room in [0, 10, 100, 1000, 10_000] {
            let mut disk = FullDisk {
                file: Cursor::new(Vec::new()),
                room,
                writes_after_failure: 0,
            };
            let e = write_arrays(&mut disk, &[("a", &a), ("b", &a)]).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{room}: {e}");
            // Only the failing write reached the disk: zip's Drop finalised
            // into the quiet sink (had it reached the disk, it would have
            // failed again and printed to stderr).
            assert_eq!(disk.writes_after_failure, 1, "room {room}");
        }
    }
}
