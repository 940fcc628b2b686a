//! NumPy `.npy` files, the format users already have their signals and
//! dictionaries in (`numpy.save` / `numpy.load`).
//!
//! Files come from outside, so the reader is strict: the header dictionary is
//! parsed by a small grammar (never evaluated), its length is capped, only a
//! few little-endian dtypes are accepted, and the data size implied by the
//! shape is checked against what the file holds *before* anything is
//! allocated, so a corrupt or hostile header cannot make us allocate terabytes.
//!
//! Versions 1.0, 2.0 and 3.0 are read; version 1.0 is written (2.0 only when
//! the header does not fit 1.0's 16-bit length field).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

use super::atomic::write_atomic;

/// The 6 bytes every `.npy` file starts with.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Longest header dictionary accepted when reading, in bytes. numpy writes
/// headers of about 128 bytes and itself refuses more than 10 000 by default.
pub(crate) const MAX_HEADER_LEN: usize = 64 * 1024;

/// Most dimensions accepted (numpy's own limit).
pub(crate) const MAX_DIMS: usize = 64;

/// Initial buffer for data whose size is claimed but not yet confirmed by a
/// file length; the buffer grows only as real bytes arrive.
const UNTRUSTED_PREALLOC: usize = 64 << 20;

/// Element types this crate reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `'<f4'`, little-endian IEEE single precision.
    F32,
    /// `'<f8'`, little-endian IEEE double precision.
    F64,
    /// `'<i4'`, little-endian signed 32-bit integer.
    I32,
    /// `'<i8'`, little-endian signed 64-bit integer.
    I64,
    /// `'|u1'`, unsigned byte.
    U8,
    /// `'|b1'`, numpy bool (one byte, 0 or 1); scipy writes one in `.npz`
    /// files of sparse *arrays*.
    Bool,
    /// `'|S{n}'`, fixed-length byte string of `n` bytes (numpy pads with NULs).
    Bytes(usize),
}

impl Dtype {
    /// The numpy `descr` string written to headers, e.g. `"<f4"`.
    pub fn descr(&self) -> String {
        match self {
            Dtype::F32 => "<f4".into(),
            Dtype::F64 => "<f8".into(),
            Dtype::I32 => "<i4".into(),
            Dtype::I64 => "<i8".into(),
            Dtype::U8 => "|u1".into(),
            Dtype::Bool => "|b1".into(),
            Dtype::Bytes(n) => format!("|S{n}"),
        }
    }

    /// Bytes per element.
    pub fn item_size(&self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 | Dtype::Bool => 1,
            Dtype::Bytes(n) => *n,
        }
    }

    /// Parses a numpy `descr` string; the error explains what is accepted.
    ///
    /// Also accepts the equivalent spellings `'<u1'`, `'<b1'` and `'<S{n}'`.
    pub fn from_descr(descr: &str) -> std::result::Result<Dtype, String> {
        let dtype = match descr {
            "<f4" => Some(Dtype::F32),
            "<f8" => Some(Dtype::F64),
            "<i4" => Some(Dtype::I32),
            "<i8" => Some(Dtype::I64),
            "|u1" | "<u1" => Some(Dtype::U8),
            "|b1" | "<b1" => Some(Dtype::Bool),
            _ => descr
                .strip_prefix("|S")
                .or_else(|| descr.strip_prefix("<S"))
                .filter(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .map(Dtype::Bytes),
        };
        dtype.ok_or_else(|| {
            let accepted = "only little-endian f32 ('<f4'), f64 ('<f8'), i32 ('<i4'), i64 ('<i8'), \
                            u8 ('|u1'), bool ('|b1') and byte strings ('|S<n>') are supported";
            if let Some(rest) = descr.strip_prefix('>') {
                format!(
                    "unsupported dtype '{descr}': big-endian data is not supported, {accepted}; \
                     convert with arr.astype('<{rest}')"
                )
            } else {
                format!("unsupported dtype '{descr}': {accepted}")
            }
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.descr())
    }
}

/// The metadata at the start of a `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: Dtype,
    /// `true` when the data is stored column-major (Fortran order).
    pub fortran_order: bool,
    /// Array dimensions; empty for a 0-D (scalar) array.
    pub shape: Vec<usize>,
}

impl Header {
    /// Number of elements (product of the shape), or `None` on overflow.
    pub fn num_elements(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Number of data bytes the header implies, or `None` on overflow.
    pub fn data_len(&self) -> Option<usize> {
        self.num_elements()?
            .checked_mul(self.dtype.item_size())
            .filter(|&n| n <= isize::MAX as usize)
    }

    /// Parses the header dictionary literal, e.g.
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    ///
    /// The grammar is exactly what numpy writes (single- or double-quoted
    /// keys, any whitespace, optional trailing comma); the dictionary must
    /// have the three keys and nothing else. Only whitespace may follow it.
    pub(crate) fn parse(dict: &str) -> std::result::Result<Header, String> {
        HeaderParser {
            s: dict.as_bytes(),
            pos: 0,
        }
        .parse()
    }

    /// The dictionary literal numpy writes for this header (without padding).
    pub(crate) fn to_dict_string(&self) -> String {
        let shape = match self.shape.as_slice() {
            [] => "()".to_string(),
            [d] => format!("({d},)"),
            dims => {
                let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                format!("({})", parts.join(", "))
            }
        };
        format!(
            "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
            self.dtype.descr(),
            if self.fortran_order { "True" } else { "False" },
            shape
        )
    }
}

/// Python's spelling of a shape tuple: `()`, `(3,)`, `(2, 3)`.
pub(crate) fn shape_string(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if shape.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Recursive-descent parser for the header dictionary; never evaluates input.
struct HeaderParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl HeaderParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{}'", c as char)))
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            None => format!("header dictionary ends early, expected {wanted}"),
            Some(c) => format!(
                "malformed header dictionary at byte {}: expected {wanted}, found {:?}",
                self.pos, c as char
            ),
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_ws();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.unexpected("a quoted string")),
        };
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == quote {
                let s = std::str::from_utf8(&self.s[start..self.pos])
                    .map_err(|_| "header string is not valid UTF-8".to_string())?;
                self.pos += 1;
                return Ok(s.to_string());
            }
            if c == b'\\' || c < b' ' {
                return Err(format!(
                    "malformed header dictionary at byte {}: escapes and control characters are not allowed in strings",
                    self.pos
                ));
            }
            self.pos += 1;
        }
        Err("header dictionary ends inside a string".into())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        if rest.starts_with(b"True") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(self.unexpected("True or False for 'fortran_order'"))
        }
    }

    fn shape(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                Some(c) if c.is_ascii_digit() => {
                    if !dims.is_empty() && !trailing_comma {
                        return Err(self.unexpected("',' between shape dimensions"));
                    }
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                    let d = digits
                        .parse::<usize>()
                        .map_err(|_| format!("shape dimension {digits} is too large"))?;
                    dims.push(d);
                    if dims.len() > MAX_DIMS {
                        return Err(format!("shape has more than {MAX_DIMS} dimensions"));
                    }
                    trailing_comma = false;
                }
                Some(b',') if !dims.is_empty() && !trailing_comma => {
                    self.pos += 1;
                    trailing_comma = true;
                }
                _ => return Err(self.unexpected("a non-negative integer or ')' in 'shape'")),
            }
        }
        if dims.len() == 1 && !trailing_comma {
            return Err(
                "'shape' must be a tuple: a single dimension needs a trailing comma, as in (3,)"
                    .into(),
            );
        }
        Ok(dims)
    }

    fn parse(mut self) -> std::result::Result<Header, String> {
        let mut descr: Option<String> = None;
        let mut fortran: Option<bool> = None;
        let mut shape: Option<Vec<usize>> = None;
        self.expect(b'{')?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            self.skip_ws();
            let duplicate = match key.as_str() {
                "descr" => {
                    if !matches!(self.peek(), Some(b'\'' | b'"')) {
                        return Err(
                            "unsupported dtype: structured (record) arrays are not supported"
                                .into(),
                        );
                    }
                    descr.replace(self.string()?).is_some()
                }
                "fortran_order" => fortran.replace(self.boolean()?).is_some(),
                "shape" => shape.replace(self.shape()?).is_some(),
                other => return Err(format!("unexpected key '{other}' in header dictionary")),
            };
            if duplicate {
                return Err(format!("key '{key}' appears twice in header dictionary"));
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err(self.unexpected("only padding after the header dictionary"));
        }
        let descr = descr.ok_or("header dictionary lacks 'descr'")?;
        let fortran_order = fortran.ok_or("header dictionary lacks 'fortran_order'")?;
        let shape = shape.ok_or("header dictionary lacks 'shape'")?;
        let dtype = Dtype::from_descr(&descr)?;
        Ok(Header {
            dtype,
            fortran_order,
            shape,
        })
    }
}

/// A `.npy` array of any supported dtype: its header and its raw
/// little-endian data bytes, in the file's order (see [`NpyArray::into_c_order`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Dtype, order and shape.
    pub header: Header,
    /// Raw data, `header.data_len()` bytes.
    pub bytes: Vec<u8>,
}

macro_rules! typed_ctor {
    ($(#[$doc:meta])* $name:ident, $t:ty, $dtype:expr, $conv:ident) => {
        $(#[$doc])*
        pub fn $name(shape: Vec<usize>, values: &[$t]) -> Result<NpyArray> {
            NpyArray::new($dtype, shape, $conv(values))
        }
    };
}

impl NpyArray {
    /// A C-order array; fails with [`Error::Shape`] unless `bytes` holds
    /// exactly shape-product × item-size bytes.
    pub fn new(dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> Result<NpyArray> {
        let header = Header {
            dtype,
            fortran_order: false,
            shape,
        };
        match header.data_len() {
            Some(n) if n == bytes.len() => Ok(NpyArray { header, bytes }),
            _ => Err(Error::Shape(format!(
                "array of dtype {} and shape {} needs {} bytes, got {}",
                dtype,
                shape_string(&header.shape),
                header
                    .data_len()
                    .map_or("too many".into(), |n| n.to_string()),
                bytes.len()
            ))),
        }
    }

    typed_ctor!(
        /// A C-order f32 array of the given shape.
        from_f32, f32, Dtype::F32, f32_bytes
    );
    typed_ctor!(
        /// A C-order f64 array of the given shape.
        from_f64, f64, Dtype::F64, f64_bytes
    );
    typed_ctor!(
        /// A C-order i32 array of the given shape.
        from_i32, i32, Dtype::I32, i32_bytes
    );
    typed_ctor!(
        /// A C-order i64 array of the given shape.
        from_i64, i64, Dtype::I64, i64_bytes
    );

    /// A C-order u8 array of the given shape.
    pub fn from_u8(shape: Vec<usize>, values: &[u8]) -> Result<NpyArray> {
        NpyArray::new(Dtype::U8, shape, values.to_vec())
    }

    /// A 0-D byte string (`numpy.asarray(b"...")`), as scipy stores `format`.
    /// An empty value is stored as one NUL byte, as numpy does.
    pub fn bytes_scalar(value: &[u8]) -> NpyArray {
        let bytes = if value.is_empty() {
            vec![0]
        } else {
            value.to_vec()
        };
        NpyArray {
            header: Header {
                dtype: Dtype::Bytes(bytes.len()),
                fortran_order: false,
                shape: vec![],
            },
            bytes,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.header.dtype.item_size().max(1)
    }

    /// `true` when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Reorders a Fortran-order array into C (row-major) order; C-order
    /// arrays are returned unchanged.
    pub fn into_c_order(self) -> NpyArray {
        let shape = &self.header.shape;
        if !self.header.fortran_order || shape.len() < 2 || self.bytes.is_empty() {
            let mut a = self;
            a.header.fortran_order = false;
            return a;
        }
        let k = self.header.dtype.item_size();
        let ndim = shape.len();
        // Fortran strides, in elements.
        let mut fstride = vec![1usize; ndim];
        for i in 1..ndim {
            fstride[i] = fstride[i - 1] * shape[i - 1];
        }
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut idx = vec![0usize; ndim];
        let mut off = 0usize; // Fortran offset of `idx`
        for _ in 0..self.len() {
            out.extend_from_slice(&self.bytes[off * k..off * k + k]);
            // Advance the C-order multi-index (last axis fastest).
            for ax in (0..ndim).rev() {
                idx[ax] += 1;
                off += fstride[ax];
                if idx[ax] < shape[ax] {
                    break;
                }
                off -= fstride[ax] * shape[ax];
                idx[ax] = 0;
            }
        }
        NpyArray {
            header: Header {
                fortran_order: false,
                ..self.header
            },
            bytes: out,
        }
    }

    /// Values as f32 (from f32, or f64 rounded; overflow becomes ±inf), in
    /// stored order; `None` for other dtypes.
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        match self.header.dtype {
            Dtype::F32 => Some(decode(&self.bytes, f32::from_le_bytes)),
            Dtype::F64 => Some(decode(&self.bytes, |b| f64::from_le_bytes(b) as f32)),
            _ => None,
        }
    }

    /// Values as f64 (from f32 or f64), in stored order; `None` for other dtypes.
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        match self.header.dtype {
            Dtype::F32 => Some(decode(&self.bytes, |b| f32::from_le_bytes(b) as f64)),
            Dtype::F64 => Some(decode(&self.bytes, f64::from_le_bytes)),
            _ => None,
        }
    }

    /// Values as i64 (from i32, i64, u8 or bool), in stored order; `None` for
    /// other dtypes.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        match self.header.dtype {
            Dtype::I32 => Some(decode(&self.bytes, |b| i32::from_le_bytes(b) as i64)),
            Dtype::I64 => Some(decode(&self.bytes, i64::from_le_bytes)),
            Dtype::U8 | Dtype::Bool => Some(self.bytes.iter().map(|&b| b as i64).collect()),
            _ => None,
        }
    }

    /// The value of a 0-D byte-string array with numpy's trailing NULs
    /// removed (`arr.item()`); `None` for anything else.
    pub fn to_byte_string(&self) -> Option<Vec<u8>> {
        match self.header.dtype {
            Dtype::Bytes(_) if self.header.shape.is_empty() => {
                let end = self
                    .bytes
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |i| i + 1);
                Some(self.bytes[..end].to_vec())
            }
            _ => None,
        }
    }

    /// Writes this array as a complete `.npy` stream (header and data).
    pub fn write_to<W: Write>(&self, w: &mut W) -> io::Result<()> {
        write_header(w, &self.header)?;
        w.write_all(&self.bytes)
    }
}

fn decode<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk has N bytes")))
        .collect()
}

macro_rules! to_bytes_fn {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $name(values: &[$t]) -> Vec<u8> {
            let mut out = Vec::with_capacity(std::mem::size_of_val(values));
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
    };
}

to_bytes_fn!(
    /// Little-endian bytes of f32 values, for [`write_array`] and [`NpyArray::new`].
    f32_bytes, f32
);
to_bytes_fn!(
    /// Little-endian bytes of f64 values, for [`write_array`] and [`NpyArray::new`].
    f64_bytes, f64
);
to_bytes_fn!(
    /// Little-endian bytes of i32 values, for [`write_array`] and [`NpyArray::new`].
    i32_bytes, i32
);
to_bytes_fn!(
    /// Little-endian bytes of i64 values, for [`write_array`] and [`NpyArray::new`].
    i64_bytes, i64
);

/// A dense f32 matrix in row-major (C) order, as read from or written to `.npy`.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyMatrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values; element (i, j) is `data[i * cols + j]`.
    pub data: Vec<f32>,
}

/// Reads the `.npy` header from `reader`, returning it and the total number
/// of bytes it occupied (magic, version, length field, dictionary, padding).
///
/// Errors name `path_for_errors`.
pub(crate) fn read_header<R: Read>(
    reader: &mut R,
    path_for_errors: &Path,
) -> Result<(Header, u64)> {
    let path = path_for_errors;
    let eof = |e: io::Error, what: &str| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::format(path, format!("file is truncated: {what}"))
        } else {
            Error::io(path, e)
        }
    };
    let mut prefix = [0u8; 8];
    let mut got = 0;
    while got < prefix.len() {
        match reader.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    if got < 6 || &prefix[..6] != MAGIC {
        let what = if got == 0 {
            "the file is empty"
        } else {
            "it does not start with \\x93NUMPY"
        };
        return Err(Error::format(path, format!("not a .npy file: {what}")));
    }
    if got < 8 {
        return Err(Error::format(path, "file is truncated: header incomplete"));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => {
            return Err(Error::format(
                path,
                format!("unsupported .npy format version {major}.{minor} (only 1.0, 2.0 and 3.0)"),
            ));
        }
    };
    let mut len_bytes = [0u8; 4];
    reader
        .read_exact(&mut len_bytes[..len_size])
        .map_err(|e| eof(e, "header incomplete"))?;
    let header_len = u32::from_le_bytes(len_bytes) as usize;
    if header_len > MAX_HEADER_LEN {
        return Err(Error::format(
            path,
            format!("header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes"),
        ));
    }
    let mut dict = vec![0u8; header_len];
    reader
        .read_exact(&mut dict)
        .map_err(|e| eof(e, "header incomplete"))?;
    let dict = if utf8 {
        String::from_utf8(dict).map_err(|_| Error::format(path, "header is not valid UTF-8"))?
    } else {
        // Latin-1; anything non-ASCII could only appear in structured-dtype
        // field names, which are rejected anyway.
        dict.iter().map(|&b| b as char).collect()
    };
    let header = Header::parse(&dict)
        .map_err(|m| Error::format(path, format!("invalid .npy header: {m}")))?;
    Ok((header, (6 + 2 + len_size + header_len) as u64))
}

/// The shape in the header of the `.npy` at `path`; reads nothing else.
pub fn read_shape(path: &Path) -> Result<Vec<usize>> {
    let (mut reader, _) = open(path)?;
    Ok(read_header(&mut reader, path)?.0.shape)
}

/// Reads a complete `.npy` array of any supported dtype from a file.
///
/// The data is returned in stored order; call [`NpyArray::into_c_order`] to
/// normalise Fortran-order arrays.
///
/// # Examples
///
/// ```
/// use lca::io::npy::{self, Dtype, NpyArray};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.npy");
/// npy::write_npy(&path, &NpyArray::from_i64(vec![3], &[10, 20, 30]).unwrap()).unwrap();
/// let a = npy::read_array(&path).unwrap();
/// assert_eq!(a.header.dtype, Dtype::I64);
/// assert_eq!(a.to_i64_vec().unwrap(), [10, 20, 30]);
/// ```
pub fn read_array(path: &Path) -> Result<NpyArray> {
    let (mut reader, len) = open(path)?;
    let (header, header_len) = read_header(&mut reader, path)?;
    let bytes = read_data(&mut reader, &header, header_len, Some(len), true, path)?;
    Ok(NpyArray { header, bytes })
}

/// Reads a complete `.npy` array from any reader (e.g. a zip entry).
///
/// `available_bytes` is the total size of the `.npy` stream (header
/// included) when known: the data size implied by the header is checked
/// against it before reading, and trailing bytes are rejected. Without it,
/// memory still grows only as data actually arrives. Errors name
/// `path_for_errors`.
pub fn read_array_from<R: Read>(
    mut reader: R,
    available_bytes: Option<u64>,
    path_for_errors: &Path,
) -> Result<NpyArray> {
    let (header, header_len) = read_header(&mut reader, path_for_errors)?;
    let bytes = read_data(
        &mut reader,
        &header,
        header_len,
        available_bytes,
        false,
        path_for_errors,
    )?;
    Ok(NpyArray { header, bytes })
}

fn open(path: &Path) -> Result<(BufReader<File>, u64)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::format(path, "is a directory, not a .npy file"));
    }
    Ok((BufReader::new(file), meta.len()))
}

/// Reads the data bytes after the header. With `trusted`, `available` is a
/// real file length, so the full buffer can be allocated up front.
fn read_data<R: Read>(
    reader: &mut R,
    header: &Header,
    header_len: u64,
    available: Option<u64>,
    trusted: bool,
    path: &Path,
) -> Result<Vec<u8>> {
    let found = available.map(|total| total.saturating_sub(header_len));
    let nbytes = check_data_len(header, found, path)?;
    let capacity = if trusted && available.is_some() {
        nbytes
    } else {
        nbytes.min(UNTRUSTED_PREALLOC)
    };
    let mut buf = Vec::with_capacity(capacity);
    reader
        .take(nbytes as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() < nbytes {
        return Err(truncated(path, nbytes, buf.len() as u64));
    }
    if available.is_some() {
        // Reaching the end lets zip readers verify their checksum.
        let mut probe = [0u8; 1];
        loop {
            match reader.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(Error::format(path, "unexpected bytes after the array data"));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }
    Ok(buf)
}

/// Reads a 2-D (or 1-D, as one row) float32/float64 `.npy` file as a
/// row-major f32 matrix.
///
/// Fortran-order files are converted to row-major; f64 values are rounded
/// to f32 (values beyond f32's range become ±inf, so check finiteness).
/// Other dtypes and 0-D or 3-D+ arrays are rejected with an error naming the
/// file.
///
/// # Examples
///
/// ```
/// use lca::io::npy;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// npy::write_matrix(&path, 2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let m = npy::read_matrix(&path).unwrap();
/// assert_eq!((m.rows, m.cols), (2, 3));
/// assert_eq!(m.data[3], 4.0);
/// ```
pub fn read_matrix(path: &Path) -> Result<NpyMatrix> {
    let (mut reader, len) = open(path)?;
    read_matrix_impl(&mut reader, Some(len), true, path)
}

/// Like [`read_matrix`], from any reader; `available_bytes` and
/// `path_for_errors` are as in [`read_array_from`].
pub fn read_matrix_from<R: Read>(
    mut reader: R,
    available_bytes: Option<u64>,
    path_for_errors: &Path,
) -> Result<NpyMatrix> {
    read_matrix_impl(&mut reader, available_bytes, false, path_for_errors)
}

fn read_matrix_impl<R: Read>(
    reader: &mut R,
    available: Option<u64>,
    trusted: bool,
    path: &Path,
) -> Result<NpyMatrix> {
    let (header, header_len) = read_header(reader, path)?;
    let (rows, cols) = matrix_shape(&header, path)?;
    let bytes = read_data(reader, &header, header_len, available, trusted, path)?;
    let array = NpyArray { header, bytes }.into_c_order();
    let data = array.to_f32_vec().expect("dtype checked above");
    Ok(NpyMatrix { rows, cols, data })
}

/// `(rows, cols)` of a float matrix header (a 1-D array is one row); other
/// dtypes and 0-D or 3-D+ shapes are errors naming `path`.
fn matrix_shape(header: &Header, path: &Path) -> Result<(usize, usize)> {
    if !matches!(header.dtype, Dtype::F32 | Dtype::F64) {
        return Err(Error::format(
            path,
            format!(
                "unsupported dtype {} for a matrix: expected float32 ('<f4') or float64 ('<f8')",
                header.dtype
            ),
        ));
    }
    match header.shape[..] {
        [n] => Ok((1, n)),
        [r, c] => Ok((r, c)),
        _ => Err(Error::format(
            path,
            format!(
                "expected a 1-D or 2-D array, found a {}-D array of shape {}",
                header.shape.len(),
                shape_string(&header.shape)
            ),
        )),
    }
}

/// The data size a header implies, checked against the `found` bytes after
/// the header: a truncated file or trailing bytes are errors naming `path`.
fn check_data_len(header: &Header, found: Option<u64>, path: &Path) -> Result<usize> {
    let nbytes = header.data_len().ok_or_else(|| {
        Error::format(
            path,
            format!(
                "shape {} of dtype {} is too large: its size overflows",
                shape_string(&header.shape),
                header.dtype
            ),
        )
    })?;
    if let Some(found) = found {
        if found < nbytes as u64 {
            return Err(truncated(path, nbytes, found));
        }
        if found > nbytes as u64 {
            return Err(Error::format(
                path,
                format!(
                    "{} unexpected bytes after the array data (shape {} of dtype {} needs {nbytes} bytes)",
                    found - nbytes as u64,
                    shape_string(&header.shape),
                    header.dtype
                ),
            ));
        }
    }
    Ok(nbytes)
}

fn truncated(path: &Path, nbytes: usize, found: u64) -> Error {
    Error::format(
        path,
        format!("file is truncated: expected {nbytes} bytes of data, found {found}"),
    )
}
/// Reads a 2-D (or 1-D, as one row) float32/float64 `.npy` file a block of
/// rows at a time, so an input of any length is processed in bounded memory.
///
/// The header and the file length are checked when opening: a truncated
/// file, trailing bytes, another dtype or shape fail before any row is
/// read. Rows come back as row-major f32, whatever the file's order (a
/// Fortran-order file is read one column strip per block) and dtype (f64 is
/// rounded per block, as [`read_matrix`] does).
///
/// ```
/// use lca::io::npy;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// npy::write_matrix(&path, 3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let mut r = npy::MatrixReader::open(&path).unwrap();
/// assert_eq!((r.rows(), r.cols()), (3, 2));
/// assert_eq!(r.read_rows(2).unwrap(), [1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(r.read_rows(1).unwrap(), [5.0, 6.0]);
/// ```
#[derive(Debug)]
pub struct MatrixReader {
    reader: BufReader<File>,
    path: std::path::PathBuf,
    header: Header,
    data_start: u64,
    rows: usize,
    cols: usize,
    next_row: usize,
    bytes: Vec<u8>,
}

impl MatrixReader {
    /// Opens `path` and validates its header against the file's length.
    pub fn open(path: &Path) -> Result<MatrixReader> {
        let (mut reader, len) = open(path)?;
        let (header, header_len) = read_header(&mut reader, path)?;
        let (rows, cols) = matrix_shape(&header, path)?;
        check_data_len(&header, Some(len.saturating_sub(header_len)), path)?;
        Ok(MatrixReader {
            reader,
            path: path.to_path_buf(),
            header,
            data_start: header_len,
            rows,
            cols,
            next_row: 0,
            bytes: Vec::new(),
        })
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows not yet read.
    pub fn remaining(&self) -> usize {
        self.rows - self.next_row
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next `n` rows (at most [`MatrixReader::remaining`]), row-major.
    /// A file that shrank since it was opened fails with "truncated".
    pub fn read_rows(&mut self, n: usize) -> Result<Vec<f32>> {
        let n = n.min(self.remaining());
        let item = self.header.dtype.item_size();
        let (rows, cols, first) = (self.rows, self.cols, self.next_row);
        let nbytes = n * cols * item;
        self.bytes.resize(nbytes, 0);
        let path = self.path.clone();
        let eof = |e: io::Error| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::format(&path, "file is truncated: it shrank while being read")
            } else {
                Error::io(&path, e)
            }
        };
        if self.header.fortran_order && rows > 1 && n > 0 {
            // Column j of the block is contiguous at element j·rows + first;
            // gather the strips, then transpose into row order.
            let mut strip = vec![0u8; n * item];
            for j in 0..cols {
                let offset = self.data_start + ((j * rows + first) * item) as u64;
                self.reader
                    .seek(io::SeekFrom::Start(offset))
                    .map_err(|e| Error::io(&path, e))?;
                self.reader.read_exact(&mut strip).map_err(eof)?;
                for (i, v) in strip.chunks_exact(item).enumerate() {
                    let at = (i * cols + j) * item;
                    self.bytes[at..at + item].copy_from_slice(v);
                }
            }
        } else {
            self.reader.read_exact(&mut self.bytes).map_err(eof)?;
        }
        self.next_row += n;
        Ok(match self.header.dtype {
            Dtype::F64 => decode(&self.bytes, |b| f64::from_le_bytes(b) as f32),
            _ => decode(&self.bytes, f32::from_le_bytes),
        })
    }
}

/// Writes a C-order `<f4` `(rows, cols)` `.npy` file a block of rows at a
/// time: the header is known from the row count, the rows stream into a
/// temporary file that [`MatrixWriter::finish`] renames into place (see
/// [`super::atomic::AtomicFile`]), so a large output never sits in memory.
///
/// ```
/// use lca::io::npy;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.npy");
/// let mut w = npy::MatrixWriter::create(&path, 2, 2).unwrap();
/// w.write_rows(&[1.0, 2.0]).unwrap();
/// w.write_rows(&[3.0, 4.0]).unwrap();
/// w.finish().unwrap();
/// assert_eq!(npy::read_matrix(&path).unwrap().data, [1.0, 2.0, 3.0, 4.0]);
/// ```
#[derive(Debug)]
pub struct MatrixWriter {
    file: super::atomic::AtomicFile,
    rows: usize,
    cols: usize,
    written: usize,
    buf: Vec<u8>,
}

impl MatrixWriter {
    /// Creates the temporary file and writes the header.
    pub fn create(path: &Path, rows: usize, cols: usize) -> Result<MatrixWriter> {
        if rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(4))
            .is_none()
        {
            return Err(Error::Shape(format!(
                "cannot write {}: a {rows}x{cols} matrix is too large",
                path.display()
            )));
        }
        let mut file = super::atomic::AtomicFile::create(path)?;
        let header = Header {
            dtype: Dtype::F32,
            fortran_order: false,
            shape: vec![rows, cols],
        };
        write_header(file.writer(), &header).map_err(|e| Error::io(path, e))?;
        Ok(MatrixWriter {
            file,
            rows,
            cols,
            written: 0,
            buf: Vec::new(),
        })
    }

    /// Appends whole rows (row-major, a multiple of `cols` values).
    pub fn write_rows(&mut self, data: &[f32]) -> Result<()> {
        let path = self.file.path().to_path_buf();
        let new_rows = data.len().checked_div(self.cols).unwrap_or(0);
        if data.len() != new_rows * self.cols || self.written + new_rows > self.rows {
            return Err(Error::Shape(format!(
                "cannot write {}: {} values do not continue a {}x{} matrix at row {}",
                path.display(),
                data.len(),
                self.rows,
                self.cols,
                self.written
            )));
        }
        self.buf.clear();
        self.buf.reserve(4 * data.len());
        for v in data {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.file
            .writer()
            .write_all(&self.buf)
            .map_err(|e| Error::io(&path, e))?;
        self.written += new_rows;
        Ok(())
    }

    /// Renames the complete file into place; fails, leaving nothing, unless
    /// every row was written.
    pub fn finish(self) -> Result<()> {
        if self.written != self.rows {
            return Err(Error::Shape(format!(
                "cannot write {}: only {} of {} rows were written",
                self.file.path().display(),
                self.written,
                self.rows
            )));
        }
        self.file.commit()
    }
}

/// Writes a `.npy` header (version 1.0, or 2.0 when the dictionary is too
/// long for 1.0), padded with spaces so the data starts at a multiple of 64.
fn write_header<W: Write>(w: &mut W, header: &Header) -> io::Result<()> {
    let dict = header.to_dict_string();
    // Total = prefix + dict + padding + '\n', rounded up to 64.
    let padded = |prefix: usize| (prefix + dict.len() + 1).div_ceil(64) * 64 - prefix;
    let (version, len) = if padded(10) <= u16::MAX as usize {
        (1u8, padded(10))
    } else {
        (2u8, padded(12))
    };
    let len32 = u32::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "npy header too long"))?;
    w.write_all(MAGIC)?;
    w.write_all(&[version, 0])?;
    if version == 1 {
        w.write_all(&(len32 as u16).to_le_bytes())?;
    } else {
        w.write_all(&len32.to_le_bytes())?;
    }
    w.write_all(dict.as_bytes())?;
    w.write_all(&vec![b' '; len - dict.len() - 1])?;
    w.write_all(b"\n")
}

/// Writes a complete C-order `.npy` stream: header plus `raw_le_bytes`,
/// which must hold exactly shape-product × item-size little-endian bytes
/// (see [`f32_bytes`] and friends); otherwise fails with
/// [`io::ErrorKind::InvalidInput`] before writing anything.
///
/// # Examples
///
/// ```
/// use lca::io::npy::{self, Dtype};
/// let mut buf = Vec::new();
/// npy::write_array(&mut buf, Dtype::I32, &[2], &npy::i32_bytes(&[7, 8])).unwrap();
/// let a = npy::read_array_from(&buf[..], Some(buf.len() as u64), "mem.npy".as_ref()).unwrap();
/// assert_eq!(a.to_i64_vec().unwrap(), [7, 8]);
/// ```
pub fn write_array<W: Write>(
    w: &mut W,
    dtype: Dtype,
    shape: &[usize],
    raw_le_bytes: &[u8],
) -> io::Result<()> {
    let header = Header {
        dtype,
        fortran_order: false,
        shape: shape.to_vec(),
    };
    if header.data_len() != Some(raw_le_bytes.len()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "array of dtype {dtype} and shape {} needs {} bytes, got {}",
                shape_string(shape),
                header
                    .data_len()
                    .map_or("too many".into(), |n| n.to_string()),
                raw_le_bytes.len()
            ),
        ));
    }
    write_header(w, &header)?;
    w.write_all(raw_le_bytes)
}

/// Atomically writes `array` (any dtype/order) as a `.npy` file.
pub fn write_npy(path: &Path, array: &NpyArray) -> Result<()> {
    if array.header.data_len() != Some(array.bytes.len()) {
        return Err(Error::Shape(format!(
            "cannot write {}: array bytes do not match its shape and dtype",
            path.display()
        )));
    }
    write_atomic(path, |w| array.write_to(w))
}

/// Atomically writes a row-major `rows × cols` f32 matrix as a C-order
/// `<f4` `.npy` file that `numpy.load` reads.
///
/// Fails with [`Error::Shape`] naming the file if `data.len() != rows * cols`.
///
/// # Examples
///
/// ```
/// use lca::io::npy;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("dict.npy");
/// npy::write_matrix(&path, 1, 2, &[0.5, -0.5]).unwrap();
/// assert_eq!(npy::read_matrix(&path).unwrap().data, [0.5, -0.5]);
/// ```
pub fn write_matrix(path: &Path, rows: usize, cols: usize, data: &[f32]) -> Result<()> {
    if rows.checked_mul(cols) != Some(data.len()) {
        return Err(Error::Shape(format!(
            "cannot write {}: a {rows}x{cols} matrix needs {} values, got {}",
            path.display(),
            rows.checked_mul(cols)
                .map_or("too many".into(), |n| n.to_string()),
            data.len()
        )));
    }
    let header = Header {
        dtype: Dtype::F32,
        fortran_order: false,
        shape: vec![rows, cols],
    };
    write_atomic(path, |w| {
        write_header(w, &header)?;
        // Convert in chunks so a large matrix is not copied whole; the
        // fixed-size copies compile to plain memory moves on little-endian.
        let mut buf = vec![0u8; 4 * 16384];
        for chunk in data.chunks(16384) {
            let bytes = &mut buf[..4 * chunk.len()];
            for (dst, v) in bytes.chunks_exact_mut(4).zip(chunk) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
            w.write_all(bytes)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let h =
            Header::parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }").unwrap();
        assert_eq!(
            h,
            Header {
                dtype: Dtype::F32,
                fortran_order: false,
                shape: vec![3, 4]
            }
        );
        let h =
            Header::parse("{\"shape\":(5,),\"descr\":\"|S3\",\"fortran_order\":True}  \n").unwrap();
        assert_eq!(
            h,
            Header {
                dtype: Dtype::Bytes(3),
                fortran_order: true,
                shape: vec![5]
            }
        );
        let h = Header::parse("{'descr': '<i8', 'fortran_order': False, 'shape': (), }").unwrap();
        assert!(h.shape.is_empty());
    }

    #[test]
    fn rejects_bad_headers() {
        for bad in [
            "",
            "{",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk",
            "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,)}",
        ] {
            assert!(Header::parse(bad).is_err(), "accepted {bad:?}");
        }
        let e =
            Header::parse("{'descr': '>f4', 'fortran_order': False, 'shape': (3,)}").unwrap_err();
        assert!(e.contains("big-endian"), "{e}");
    }

    #[test]
    fn fortran_to_c_order_3d() {
        // Shape (2, 3, 2) in Fortran order: element (i, j, k) at i + 2j + 6k.
        let shape = [2usize, 3, 2];
        let fvals: Vec<i32> = (0..12).collect();
        let a = NpyArray {
            header: Header {
                dtype: Dtype::I32,
                fortran_order: true,
                shape: shape.to_vec(),
            },
            bytes: i32_bytes(&fvals),
        }
        .into_c_order();
        let c = a.to_i64_vec().unwrap();
        let mut n = 0;
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..2 {
                    assert_eq!(c[n], (i + 2 * j + 6 * k) as i64);
                    n += 1;
                }
            }
        }
    }

    #[test]
    fn headers_are_64_byte_aligned() {
        let mut buf = Vec::new();
        write_array(&mut buf, Dtype::U8, &[0; 20], &[]).unwrap();
        assert_eq!(buf[6], 1);
        let long: Vec<usize> = vec![1; 64];
        let mut big = Vec::new();
        write_header(
            &mut big,
            &Header {
                dtype: Dtype::U8,
                fortran_order: false,
                shape: long,
            },
        )
        .unwrap();
        assert_eq!(big.len() % 64, 0);
        let (h, n) = read_header(&mut &big[..], Path::new("m")).unwrap();
        assert_eq!((h.shape.len(), n as usize), (64, big.len()));
    }
}
