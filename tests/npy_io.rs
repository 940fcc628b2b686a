//! File I/O against real numpy/scipy files: `.npy` matrices, scipy CSR
//! `.npz`, and atomic writes. Fixtures under `tests/fixtures/` were produced
//! by numpy 2.4 / scipy 1.17.

use std::path::{Path, PathBuf};

use lca::error::Error;
use lca::io::atomic::{write_atomic, write_bytes_atomic};
use lca::io::npy::{self, Dtype, NpyArray};
use lca::io::npz::{self, CsrMatrix};

/// Writes `bytes` to `name` in `dir`, returning the path.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A version-1.0 `.npy` file with an arbitrary header dictionary.
fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    let dict = format!("{dict}\n");
    v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    v.extend_from_slice(data);
    v
}

/// Asserts that `err`'s one-line message names `path` and contains `needle`.
fn assert_err(err: Error, path: &Path, needle: &str) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "path missing from: {msg}"
    );
    assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn f32_matrix_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.npy");
    let data = [1.0f32, -0.0, 3.5e-42, f32::MAX, -7.25, 0.1];
    npy::write_matrix(&path, 3, 2, &data).unwrap();
    let m = npy::read_matrix(&path).unwrap();
    assert_eq!((m.rows, m.cols), (3, 2));
    assert_eq!(
        m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // Overwriting works and leaves only the target behind.
    npy::write_matrix(&path, 1, 0, &[]).unwrap();
    let m = npy::read_matrix(&path).unwrap();
    assert_eq!((m.rows, m.cols, m.data.len()), (1, 0, 0));
    assert_eq!(dir_names(dir.path()), ["m.npy"]);
    // The header is padded so the data starts at a multiple of 64.
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    assert_eq!(bytes[9 + header_len], b'\n');
}

#[test]
fn write_matrix_checks_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npy");
    let err = npy::write_matrix(&path, 2, 2, &[1.0; 3]).unwrap_err();
    assert!(matches!(err, Error::Shape(_)));
    assert_err(err, &path, "needs 4 values, got 3");
    assert!(!path.exists());
}

#[test]
fn reads_numpy_f64_fortran_1d_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let p = put(
        dir.path(),
        "f64.npy",
        include_bytes!("fixtures/f64_2x3.npy"),
    );
    let m = npy::read_matrix(&p).unwrap();
    assert_eq!((m.rows, m.cols), (2, 3));
    assert_eq!(&m.data[..4], &[1.5, -2.0, 3.25, 4.0]);
    assert_eq!(m.data[4], f32::INFINITY, "1e300 overflows f32");
    assert_eq!(m.data[5], -0.5);

    let p = put(
        dir.path(),
        "f.npy",
        include_bytes!("fixtures/f32_fortran_2x3.npy"),
    );
    let m = npy::read_matrix(&p).unwrap();
    assert_eq!(
        (m.rows, m.cols, m.data),
        (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    let p = put(
        dir.path(),
        "g.npy",
        include_bytes!("fixtures/f64_fortran_3x2.npy"),
    );
    let m = npy::read_matrix(&p).unwrap();
    assert_eq!(
        (m.rows, m.cols, m.data),
        (3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );

    let p = put(dir.path(), "v.npy", include_bytes!("fixtures/f32_1d.npy"));
    let m = npy::read_matrix(&p).unwrap();
    assert_eq!((m.rows, m.cols, m.data), (1, 4, vec![0.5, 1.5, 2.5, 3.5]));

    for (name, bytes) in [
        ("v2.npy", &include_bytes!("fixtures/f32_v2.npy")[..]),
        ("v3.npy", &include_bytes!("fixtures/f32_v3.npy")[..]),
    ] {
        let p = put(dir.path(), name, bytes);
        let m = npy::read_matrix(&p).unwrap();
        assert_eq!(
            (m.rows, m.cols, m.data),
            (2, 2, vec![1.0, 2.0, 3.0, 4.0]),
            "{name}"
        );
    }
}

#[test]
fn unsupported_npy_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            put(d, "be.npy", include_bytes!("fixtures/f32_be.npy")),
            "unsupported dtype '>f4': big-endian",
        ),
        (
            put(d, "int.npy", include_bytes!("fixtures/i64_2x2.npy")),
            "unsupported dtype '<i8' for a matrix",
        ),
        (
            put(d, "3d.npy", include_bytes!("fixtures/f32_3d.npy")),
            "found a 3-D array of shape (2, 1, 2)",
        ),
        (
            put(d, "0d.npy", include_bytes!("fixtures/f32_0d.npy")),
            "found a 0-D array",
        ),
        (
            put(d, "empty.npy", b""),
            "not a .npy file: the file is empty",
        ),
        (
            put(d, "garbage.npy", b"PK\x03\x04 this is not numpy at all"),
            "not a .npy file",
        ),
        (
            put(d, "ver.npy", b"\x93NUMPY\x04\x00\x10\x00"),
            "unsupported .npy format version 4.0",
        ),
        (
            put(d, "short_header.npy", b"\x93NUMPY\x01\x00\x76\x00{'descr'"),
            "file is truncated: header incomplete",
        ),
        (
            put(
                d,
                "bad_dict.npy",
                &npy_with_header("{'descr': '<f4', 'shape': (2,)}", &[0; 8]),
            ),
            "lacks 'fortran_order'",
        ),
        (
            put(
                d,
                "code.npy",
                &npy_with_header("__import__('os').system('true')", &[]),
            ),
            "invalid .npy header",
        ),
        (
            put(
                d,
                "huge.npy",
                &npy_with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
                    &[0; 16],
                ),
            ),
            "file is truncated: expected 4000000000000 bytes of data, found 16",
        ),
        (
            put(
                d,
                "overflow.npy",
                &npy_with_header(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
                    &[],
                ),
            ),
            "too large: its size overflows",
        ),
        (
            put(
                d,
                "trailing.npy",
                &npy_with_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                    &[0; 8],
                ),
            ),
            "4 unexpected bytes after the array data",
        ),
    ];
    for (path, needle) in cases {
        assert_err(npy::read_matrix(&path).unwrap_err(), &path, needle);
        // The streaming reader refuses the same files, before any row.
        assert_err(npy::MatrixReader::open(&path).unwrap_err(), &path, needle);
    }

    // A numpy file cut short inside its data.
    let full = include_bytes!("fixtures/f64_2x3.npy");
    let p = put(d, "cut.npy", &full[..full.len() - 5]);
    assert_err(
        npy::read_matrix(&p).unwrap_err(),
        &p,
        "file is truncated: expected 48 bytes of data, found 43",
    );

    // The same from a stream of unknown length (as inside a zip entry).
    let err = npy::read_matrix_from(&full[..full.len() - 5], None, &p).unwrap_err();
    assert_err(
        err,
        &p,
        "file is truncated: expected 48 bytes of data, found 43",
    );

    // A header longer than the cap is refused before it is read.
    let mut long = b"\x93NUMPY\x02\x00".to_vec();
    long.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let p = put(d, "longhdr.npy", &long);
    assert_err(
        npy::read_matrix(&p).unwrap_err(),
        &p,
        "header length 1073741824 exceeds the limit",
    );

    let missing = d.join("no_such_file.npy");
    let err = npy::read_matrix(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert_err(err, &missing, "No such file");
}

#[test]
fn generic_arrays_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let arrays = [
        NpyArray::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap(),
        NpyArray::from_f64(vec![3], &[0.5, -1e300, 2.0]).unwrap(),
        NpyArray::from_i32(vec![1, 3], &[-1, 0, i32::MAX]).unwrap(),
        NpyArray::from_i64(vec![0], &[]).unwrap(),
        NpyArray::from_u8(vec![2, 1, 2], &[1, 2, 3, 255]).unwrap(),
        NpyArray::bytes_scalar(b"csr"),
    ];
    for (i, a) in arrays.iter().enumerate() {
        let p = dir.path().join(format!("a{i}.npy"));
        npy::write_npy(&p, a).unwrap();
        assert_eq!(&npy::read_array(&p).unwrap(), a);
    }
    assert_eq!(arrays[2].to_i64_vec().unwrap(), [-1, 0, i32::MAX as i64]);
    assert_eq!(arrays[1].to_f32_vec().unwrap()[1], f32::NEG_INFINITY);
    assert_eq!(arrays[5].to_byte_string().unwrap(), b"csr");
    assert!(arrays[0].to_i64_vec().is_none());
    assert!(NpyArray::from_f32(vec![2, 2], &[1.0]).is_err());

    let mut buf = Vec::new();
    let err = npy::write_array(&mut buf, Dtype::I64, &[2], &[0; 8]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(buf.is_empty());
}

/// 5x4 matrix with empty rows, as in the scipy fixtures.
const SCIPY_DENSE: [f32; 20] = [
    0.0, 1.5, 0.0, 0.0, //
    0.0, 0.0, 0.0, 0.0, //
    2.0, 0.0, 0.0, -3.0, //
    0.0, 0.0, 0.0, 0.0, //
    0.0, 0.0, 4.25, 0.0,
];

#[test]
fn csr_round_trip_with_empty_rows() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(usize, usize, Vec<f32>)> = vec![
        (5, 4, SCIPY_DENSE.to_vec()),
        (3, 3, vec![0.0; 9]),
        (0, 0, vec![]),
        (4, 0, vec![]),
        (2, 3, vec![0.0, 0.0, 0.0, 1.0, -2.0, 1e-30]),
    ];
    for (rows, cols, dense) in cases {
        let m = CsrMatrix::from_dense_rows(rows, cols, &dense);
        m.validate().unwrap();
        assert_eq!(m.nnz(), dense.iter().filter(|&&v| v != 0.0).count());
        let path = dir.path().join("codes.npz");
        npz::write_csr(&path, &m).unwrap();
        let back = npz::read_csr(&path).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_dense_rows(), dense);
    }
    assert_eq!(dir_names(dir.path()), ["codes.npz"]);

    // Entries are exactly what scipy.sparse.save_npz writes.
    let arrays = npz::read_npz(&dir.path().join("codes.npz")).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["indices", "indptr", "format", "shape", "data"]);
    let dtypes: Vec<Dtype> = arrays.iter().map(|(_, a)| a.header.dtype).collect();
    assert_eq!(
        dtypes,
        [
            Dtype::I32,
            Dtype::I32,
            Dtype::Bytes(3),
            Dtype::I64,
            Dtype::F32
        ]
    );
    assert_eq!(arrays[3].1.to_i64_vec().unwrap(), [2, 3]);
}

#[test]
fn reads_scipy_save_npz() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "compressed_f64.npz",
            &include_bytes!("fixtures/scipy_csr_compressed.npz")[..],
        ),
        (
            "stored_f32.npz",
            &include_bytes!("fixtures/scipy_csr_stored.npz")[..],
        ),
        (
            "csr_array.npz",
            &include_bytes!("fixtures/scipy_csr_array.npz")[..],
        ),
    ] {
        let p = put(dir.path(), name, bytes);
        let m = npz::read_csr(&p).unwrap();
        assert_eq!((m.rows, m.cols, m.nnz()), (5, 4, 4), "{name}");
        assert_eq!(m.indptr, [0, 1, 1, 3, 3, 4], "{name}");
        assert_eq!(m.to_dense_rows(), SCIPY_DENSE, "{name}");
    }
    // scipy's sparse *arrays* add a bool `_is_array` entry.
    let arrays = npz::read_npz(&dir.path().join("csr_array.npz")).unwrap();
    let (name, is_array) = arrays.last().unwrap();
    assert_eq!(
        (name.as_str(), is_array.header.dtype),
        ("_is_array", Dtype::Bool)
    );
    assert_eq!(is_array.to_i64_vec().unwrap(), [1]);

    let p = put(
        dir.path(),
        "csc.npz",
        include_bytes!("fixtures/scipy_csc.npz"),
    );
    assert_err(
        npz::read_csr(&p).unwrap_err(),
        &p,
        "sparse format 'csc' is not supported",
    );
}

#[test]
fn generic_npz_and_wide_index_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.npz");
    // int64 indices/indptr and float64 data, as scipy writes for huge matrices.
    let arrays = [
        ("format", NpyArray::bytes_scalar(b"csr")),
        ("shape", NpyArray::from_i64(vec![2], &[2, 3]).unwrap()),
        ("indptr", NpyArray::from_i64(vec![3], &[0, 2, 3]).unwrap()),
        ("indices", NpyArray::from_i64(vec![3], &[0, 2, 1]).unwrap()),
        (
            "data",
            NpyArray::from_f64(vec![3], &[1.0, 2.0, 3.0]).unwrap(),
        ),
    ];
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    npz::write_npz(&path, &refs).unwrap();
    let back = npz::read_npz(&path).unwrap();
    assert_eq!(back.len(), 5);
    for ((n1, a1), (n2, a2)) in arrays.iter().zip(&back) {
        assert_eq!((*n1, a1), (n2.as_str(), a2));
    }
    let m = npz::read_csr(&path).unwrap();
    assert_eq!(m.to_dense_rows(), [1.0, 0.0, 2.0, 0.0, 3.0, 0.0]);

    let a = &arrays[0].1;
    assert!(matches!(
        npz::write_npz(&path, &[("x", a), ("x", a)]),
        Err(Error::InvalidSetting { .. })
    ));
    assert!(matches!(
        npz::write_npz(&path, &[("a/b", a)]),
        Err(Error::InvalidSetting { .. })
    ));
}

#[test]
fn invalid_npz_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csr = |name: &str, shape: &[i64], indptr: &[i64], indices: &[i64]| {
        let path = d.join(name);
        let arrays = [
            ("format", NpyArray::bytes_scalar(b"csr")),
            (
                "shape",
                NpyArray::from_i64(vec![shape.len()], shape).unwrap(),
            ),
            (
                "indptr",
                NpyArray::from_i64(vec![indptr.len()], indptr).unwrap(),
            ),
            (
                "indices",
                NpyArray::from_i64(vec![indices.len()], indices).unwrap(),
            ),
            (
                "data",
                NpyArray::from_f32(vec![indices.len()], &vec![1.0; indices.len()]).unwrap(),
            ),
        ];
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
        npz::write_npz(&path, &refs).unwrap();
        path
    };
    let cases = [
        (
            csr("col.npz", &[2, 2], &[0, 1, 2], &[0, 2]),
            "column index 2 at position 1 is outside 0..2",
        ),
        (
            csr("neg.npz", &[2, 2], &[0, 1, 2], &[-1, 0]),
            "column index -1",
        ),
        (
            csr("len.npz", &[3, 2], &[0, 1, 2], &[0, 1]),
            "indptr has 3 entries, expected rows + 1 = 4",
        ),
        (
            csr("dec.npz", &[2, 2], &[0, 2, 1], &[0, 1]),
            "indptr decreases at row 1",
        ),
        (
            csr("start.npz", &[2, 2], &[1, 1, 2], &[0, 1]),
            "indptr starts at 1",
        ),
        (
            csr("end.npz", &[2, 2], &[0, 1, 1], &[0, 1]),
            "indptr ends at 1, expected nnz = 2",
        ),
        (
            csr("shape.npz", &[2, 2, 1], &[0, 1, 2], &[0, 1]),
            "expected two non-negative integers",
        ),
        (
            csr("negshape.npz", &[-2, 2], &[0, 1, 2], &[0, 1]),
            "expected two non-negative integers",
        ),
    ];
    for (path, needle) in cases {
        assert_err(npz::read_csr(&path).unwrap_err(), &path, needle);
    }

    let p = put(
        d,
        "garbage.npz",
        b"definitely not a zip file, just some bytes here",
    );
    assert_err(
        npz::read_csr(&p).unwrap_err(),
        &p,
        "not a valid .npz (zip) archive",
    );
    let p = put(d, "empty.npz", b"");
    assert_err(
        npz::read_csr(&p).unwrap_err(),
        &p,
        "not a valid .npz (zip) archive",
    );

    let arr = NpyArray::from_f32(vec![1], &[1.0]).unwrap();
    let p = d.join("other.npz");
    npz::write_npz(&p, &[("data", &arr)]).unwrap();
    assert_err(
        npz::read_csr(&p).unwrap_err(),
        &p,
        "missing entry 'format.npy'",
    );

    // A scipy file cut short.
    let full = include_bytes!("fixtures/scipy_csr_compressed.npz");
    let p = put(d, "cut.npz", &full[..full.len() / 2]);
    assert_err(
        npz::read_csr(&p).unwrap_err(),
        &p,
        "not a valid .npz (zip) archive",
    );

    // A corrupted byte inside compressed data is caught (deflate or CRC).
    let mut bad = include_bytes!("fixtures/scipy_csr_stored.npz").to_vec();
    let pos = bad.windows(3).position(|w| w == b"csr").unwrap();
    bad[pos] = b'x';
    let p = put(d, "crc.npz", &bad);
    let msg = npz::read_csr(&p).unwrap_err().to_string();
    assert!(
        msg.contains(&p.display().to_string()) && !msg.contains('\n'),
        "{msg}"
    );

    // An entry claiming 4 GB uncompressed from a few hundred bytes is refused
    // before decompressing (zip bomb / corrupt sizes).
    let arr = NpyArray::from_f32(vec![4], &[1.0; 4]).unwrap();
    let p = d.join("bomb.npz");
    npz::write_npz(&p, &[("data", &arr)]).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let patch = |bytes: &mut Vec<u8>, sig: &[u8], offset: usize| {
        let at = bytes.windows(4).position(|w| w == sig).unwrap() + offset;
        bytes[at..at + 4].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    };
    patch(&mut bytes, b"PK\x01\x02", 24);
    patch(&mut bytes, b"PK\x03\x04", 22);
    std::fs::write(&p, &bytes).unwrap();
    assert_err(
        npz::read_npz(&p).unwrap_err(),
        &p,
        "4000000000 bytes uncompressed cannot come from",
    );

    let missing = d.join("missing.npz");
    assert_err(
        npz::read_csr(&missing).unwrap_err(),
        &missing,
        "No such file",
    );
}

#[test]
fn atomic_write_replaces_or_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    write_bytes_atomic(&path, b"first").unwrap();
    write_bytes_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(dir_names(dir.path()), ["out.bin"]);

    // A failing writer keeps the old file and removes its temporary file.
    let err = write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(&[0; 100_000])?;
        Err(std::io::Error::other("disk on fire"))
    })
    .unwrap_err();
    assert_err(err, &path, "disk on fire");
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(dir_names(dir.path()), ["out.bin"]);

    // So does a panicking writer.
    let caught = std::panic::catch_unwind(|| write_atomic(&path, |_| panic!("writer bug")));
    assert!(caught.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(dir_names(dir.path()), ["out.bin"]);

    // A missing directory fails clearly and creates nothing.
    let nested = dir.path().join("no").join("such").join("x.npy");
    let err = npy::write_matrix(&nested, 1, 1, &[1.0]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert_err(err, &nested, "cannot create a file in directory");
    let err = npz::write_csr(&nested, &CsrMatrix::from_dense_rows(1, 1, &[1.0])).unwrap_err();
    assert_err(err, &nested, "No such file");
    assert_eq!(dir_names(dir.path()), ["out.bin"]);

    // A directory in the way of the target is an error, not a silent success.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let err = write_bytes_atomic(&dir.path().join("sub"), b"x").unwrap_err();
    assert!(err.to_string().contains("sub"));
    assert_eq!(dir_names(dir.path()), ["out.bin", "sub"]);
}

/// Reading in blocks of rows gives what reading whole gives, for every
/// layout numpy writes (C/Fortran order, f32/f64, 1-D) and uneven blocks.
#[test]
fn matrix_reader_blocks_equal_the_whole_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        put(dir.path(), "a.npy", include_bytes!("fixtures/f64_2x3.npy")),
        put(
            dir.path(),
            "b.npy",
            include_bytes!("fixtures/f32_fortran_2x3.npy"),
        ),
        put(
            dir.path(),
            "c.npy",
            include_bytes!("fixtures/f64_fortran_3x2.npy"),
        ),
        put(dir.path(), "d.npy", include_bytes!("fixtures/f32_1d.npy")),
        put(dir.path(), "e.npy", include_bytes!("fixtures/f32_v3.npy")),
    ];
    // A larger Fortran-order f64 matrix: element (i, j) = 100 i + j.
    let (rows, cols) = (37, 5);
    let fortran: Vec<f64> = (0..cols)
        .flat_map(|j| (0..rows).map(move |i| (100 * i + j) as f64))
        .collect();
    let big = NpyArray {
        header: npy::Header {
            dtype: Dtype::F64,
            fortran_order: true,
            shape: vec![rows, cols],
        },
        bytes: npy::f64_bytes(&fortran),
    };
    let p = dir.path().join("big.npy");
    npy::write_npy(&p, &big).unwrap();
    files.push(p);
    for path in files {
        let whole = npy::read_matrix(&path).unwrap();
        for block in [1, 2, 7, 1000] {
            let mut r = npy::MatrixReader::open(&path).unwrap();
            assert_eq!((r.rows(), r.cols()), (whole.rows, whole.cols));
            let mut data = Vec::new();
            while r.remaining() > 0 {
                data.extend(r.read_rows(block).unwrap());
            }
            assert_eq!(data, whole.data, "{} in blocks of {block}", path.display());
        }
    }
    let m = npy::read_matrix(&dir.path().join("big.npy")).unwrap();
    assert_eq!(m.data[3 * cols + 4], 304.0);
}

/// A streamed matrix appears only when complete; an incomplete or
/// abandoned one leaves nothing behind, not even its temporary file.
#[test]
fn matrix_writer_is_atomic_and_checks_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.npy");
    let mut w = npy::MatrixWriter::create(&p, 3, 2).unwrap();
    w.write_rows(&[1.0, 2.0]).unwrap();
    assert_err(w.write_rows(&[1.0]).unwrap_err(), &p, "do not continue");
    assert_err(w.write_rows(&[0.0; 6]).unwrap_err(), &p, "do not continue");
    let err = w.finish().unwrap_err();
    assert!(err.to_string().contains("only 1 of 3 rows"), "{err}");
    assert!(dir_names(dir.path()).is_empty());

    let w = npy::MatrixWriter::create(&p, 1, 1).unwrap();
    drop(w);
    assert!(dir_names(dir.path()).is_empty());

    let mut w = npy::MatrixWriter::create(&p, 3, 2).unwrap();
    w.write_rows(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    w.write_rows(&[5.0, 6.0]).unwrap();
    w.finish().unwrap();
    assert_eq!(dir_names(dir.path()), ["m.npy"]);
    let m = npy::read_matrix(&p).unwrap();
    assert_eq!(
        (m.rows, m.cols, &m.data[..]),
        (3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0][..])
    );
    // Byte-identical to the whole-matrix writer.
    let q = dir.path().join("q.npy");
    npy::write_matrix(&q, 3, 2, &m.data).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&q).unwrap());
}
