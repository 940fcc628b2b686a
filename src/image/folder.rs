//! Image sources (a folder of photos, explicit files, or the samples embedded
//! in the binary) decoded lazily through a byte-bounded LRU cache, so that
//! learning from thousands of photos keeps memory bounded.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::Image;
use crate::error::{Error, Result};
use crate::settings::Checked;

/// Default cache size: 256 MiB of decoded `f32` pixels.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;
/// Largest accepted width or height, so a hostile header cannot request a
/// gigantic buffer.
pub const MAX_DIMENSION: u32 = 30_000;
/// Most memory a decoder may allocate for one image.
pub const MAX_DECODE_ALLOC: u64 = 1 << 30;
/// Most bytes the decoded `f32` copy of one image (before downscaling) may take.
pub const MAX_PIXEL_BYTES: u64 = 1 << 30;

/// Sample images compiled into the binary (CC0, see `assets/README.md`), so
/// `lca learn` works without any data and examples and doc tests are offline.
const EMBEDDED: [(&str, &[u8]); 3] = [
    (
        "camera.png",
        include_bytes!("../../assets/images/camera.png"),
    ),
    (
        "chelsea.png",
        include_bytes!("../../assets/images/chelsea.png"),
    ),
    (
        "coffee.png",
        include_bytes!("../../assets/images/coffee.png"),
    ),
];

/// How images are turned into `f32` arrays when loaded.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Keep RGB (`true`, 3 channels) or convert to luminance (`false`, 1 channel,
    /// Rec. 709 weights `0.2126 R + 0.7152 G + 0.0722 B` as in scikit-image).
    pub color: bool,
    /// Shrink factor ≥ 1 (2 halves width and height), applied with a Lanczos-3
    /// filter widened by the factor so it also anti-aliases. Photos are much
    /// larger than the structure a small patch can hold; downscaling also
    /// averages away sensor noise and JPEG blocking.
    pub downscale: f32,
}

crate::settings::setters!(LoadOptions {
    color: bool,
    downscale: f32,
});

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            color: false,
            downscale: 1.0,
        }
    }
}

impl LoadOptions {
    /// Fails with [`Error::InvalidSetting`] unless `downscale` is finite and ≥ 1.
    pub fn check(self) -> Result<Checked<LoadOptions>> {
        if !(self.downscale.is_finite() && self.downscale >= 1.0) {
            return Err(Error::setting(
                "downscale",
                format!(
                    "downscale must be a finite factor >= 1, got {}",
                    self.downscale
                ),
            ));
        }
        Ok(Checked::assume_valid(self))
    }

    /// Size of an image of `width × height` pixels after downscaling.
    pub fn scaled_dims(&self, width: usize, height: usize) -> (usize, usize) {
        let f = |d: usize| ((d as f64 / f64::from(self.downscale)).round() as usize).max(1);
        (f(width), f(height))
    }
}

/// Where one image's bytes come from.
#[derive(Clone, Debug)]
enum Source {
    File(PathBuf),
    Embedded(&'static [u8]),
    Memory(Arc<[u8]>),
}

#[derive(Clone, Debug)]
struct Entry {
    source: Source,
    name: String,
    /// Size after orientation and downscaling.
    width: usize,
    height: usize,
    /// Size after orientation, before downscaling.
    original: (usize, usize),
    /// The file has an alpha channel, which loading drops.
    alpha: bool,
}

/// Images that failed to decode after the scan accepted their header.
#[derive(Debug, Default)]
struct Failures {
    /// Reason per entry, `None` while the entry is good.
    reason: Vec<Option<String>>,
    /// Warning lines not yet handed out by [`ImageSet::take_warnings`].
    unreported: Vec<String>,
}

/// Least-recently-used cache of decoded images, bounded by total bytes.
#[derive(Debug, Default)]
struct Cache {
    capacity: usize,
    used: usize,
    tick: u64,
    map: HashMap<(usize, u64), (Arc<Image>, u64)>,
}

impl Cache {
    fn get(&mut self, key: (usize, u64)) -> Option<Arc<Image>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&key).map(|(img, last)| {
            *last = tick;
            Arc::clone(img)
        })
    }

    fn insert(&mut self, key: (usize, u64), img: &Arc<Image>) {
        let bytes = img.byte_size();
        if bytes > self.capacity {
            return;
        }
        if let Some((old, _)) = self.map.remove(&key) {
            self.used -= old.byte_size();
        }
        while self.used + bytes > self.capacity {
            let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some((old, _)) = self.map.remove(&oldest) {
                self.used -= old.byte_size();
            }
        }
        self.tick += 1;
        self.used += bytes;
        self.map.insert(key, (Arc::clone(img), self.tick));
    }
}

/// A list of images that are decoded on demand and kept in a bounded cache.
///
/// Only headers are read when the set is built (to learn each image's size and
/// skip unreadable files early); pixels are decoded by [`ImageSet::load`].
///
/// ```
/// use lca::image::{ImageSet, LoadOptions};
/// let set = ImageSet::embedded(LoadOptions::default()).unwrap();
/// assert_eq!(set.len(), 3);
/// assert_eq!(set.dims(0), (512, 512));
/// let camera = set.load(0).unwrap();
/// assert_eq!((camera.width, camera.channels), (512, 1));
/// ```
///
/// # Files that fail at decode time
///
/// The scan reads only headers, so a file can still fail when its pixels are
/// decoded (data cut short, corrupt compressed data, file changed or removed
/// since the scan). Then [`ImageSet::load`] returns the error and marks the
/// image *bad*: later loads fail at once with the same error, without
/// decoding again; [`ImageSet::is_bad`] tells; [`ImageSet::usable_for_patch`]
/// and [`ImageSet::check_patch`] leave it out; and [`ImageSet::take_warnings`]
/// hands out one `"PATH: cannot decode image (REASON), skipped"` line per bad
/// file, once. A caller working through many images (patch sampling) skips a
/// bad image instead of aborting; a caller that named the file treats the
/// error as fatal.
#[derive(Debug)]
pub struct ImageSet {
    entries: Vec<Entry>,
    options: Checked<LoadOptions>,
    cache: Mutex<Cache>,
    failures: Mutex<Failures>,
    /// Images decoded so far (cache misses), for tests and throughput reports.
    decodes: AtomicU64,
}

/// A reader over any image source; JPEG sources are always in memory (the
/// decoder reads the whole stream anyway) so they can be checked for
/// truncation first.
trait ReadSeek: BufRead + Seek {}
impl<T: BufRead + Seek> ReadSeek for T {}
type AnyReader = ImageReader<Box<dyn ReadSeek>>;

/// Opens `source` with its format guessed from its first bytes. A JPEG is
/// checked with [`check_jpeg_complete`], because the decoder silently fills
/// a stream cut short with grey.
fn open(source: &Source) -> std::result::Result<AnyReader, String> {
    fn from_bytes<B: AsRef<[u8]> + 'static>(bytes: B) -> std::result::Result<AnyReader, String> {
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(one_line)?;
        let format = reader.format();
        let bytes = reader.into_inner().into_inner();
        if format == Some(ImageFormat::Jpeg) {
            check_jpeg_complete(bytes.as_ref())?;
        }
        let mut out = ImageReader::new(Box::new(Cursor::new(bytes)) as Box<dyn ReadSeek>);
        if let Some(f) = format {
            out.set_format(f);
        }
        Ok(out)
    }
    match source {
        Source::File(path) => {
            let reader = ImageReader::open(path)
                .map_err(one_line)?
                .with_guessed_format()
                .map_err(one_line)?;
            match reader.format() {
                Some(ImageFormat::Jpeg) => from_bytes(fs::read(path).map_err(one_line)?),
                format => {
                    let mut out =
                        ImageReader::new(Box::new(reader.into_inner()) as Box<dyn ReadSeek>);
                    if let Some(f) = format {
                        out.set_format(f);
                    }
                    Ok(out)
                }
            }
        }
        Source::Embedded(bytes) => from_bytes(*bytes),
        Source::Memory(bytes) => from_bytes(Arc::clone(bytes)),
    }
}

/// Fails unless the JPEG stream in `b` runs up to its end-of-image marker
/// (`FF D9`): walks the marker segments by their lengths and each scan's
/// entropy-coded data up to the next marker. Bytes after the marker (camera
/// trailers, motion photos) are allowed. The decoder itself accepts a stream
/// cut short and fills the missing part grey, which would pass a broken
/// photo off as a good one.
pub(crate) fn check_jpeg_complete(b: &[u8]) -> std::result::Result<(), String> {
    const CUT: &str = "truncated JPEG: the data ends before the end-of-image marker";
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG stream (no start-of-image marker)".into());
    }
    let mut i = 2;
    loop {
        // Tolerate junk between segments as decoders do: find the next 0xFF,
        // then skip fill bytes.
        i += b
            .get(i..)
            .ok_or(CUT)?
            .iter()
            .position(|&x| x == 0xFF)
            .ok_or(CUT)?;
        while b.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *b.get(i).ok_or(CUT)?;
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            // Markers without a length: TEM, RSTn, a stray SOI.
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let len = b.get(i..i + 2).ok_or(CUT)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(format!(
                "corrupt JPEG: segment 0xFF{marker:02X} at byte {} has length {len}",
                i - 2
            ));
        }
        if i + len > b.len() {
            return Err(CUT.into());
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs to the first marker that is neither a
            // stuffed 0xFF00 nor a restart marker.
            loop {
                i += b[i..].iter().position(|&x| x == 0xFF).ok_or(CUT)?;
                match *b.get(i + 1).ok_or(CUT)? {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    _ => break,
                }
            }
        }
    }
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_DIMENSION);
    l.max_image_height = Some(MAX_DIMENSION);
    l.max_alloc = Some(MAX_DECODE_ALLOC);
    l
}

fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the header only: oriented size in pixels, after checking limits,
/// and whether the image has an alpha channel.
fn probe<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    color: bool,
) -> std::result::Result<((usize, usize), bool), String> {
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(one_line)?;
    let (w, h) = decoder.dimensions();
    let alpha = decoder.color_type().has_alpha();
    let orientation = decoder.orientation().map_err(one_line)?;
    check_size(w, h, color)?;
    Ok((oriented(w, h, orientation), alpha))
}

fn check_size(w: u32, h: u32, color: bool) -> std::result::Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("empty image ({w}×{h})"));
    }
    let bytes = u64::from(w) * u64::from(h) * if color { 12 } else { 4 };
    if bytes > MAX_PIXEL_BYTES {
        return Err(format!(
            "{w}×{h} is too large (limit {} MiB of decoded pixels)",
            MAX_PIXEL_BYTES >> 20
        ));
    }
    Ok(())
}

fn oriented(w: u32, h: u32, o: image::metadata::Orientation) -> (usize, usize) {
    use image::metadata::Orientation::*;
    match o {
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => (h as usize, w as usize),
        _ => (w as usize, h as usize),
    }
}

fn decode_reader<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    opts: &Checked<LoadOptions>,
) -> std::result::Result<Image, String> {
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(one_line)?;
    let (w, h) = decoder.dimensions();
    check_size(w, h, opts.color)?;
    let orientation = decoder.orientation().map_err(one_line)?;
    let mut dynamic = DynamicImage::from_decoder(decoder).map_err(one_line)?;
    dynamic.apply_orientation(orientation);
    let (w, h) = (dynamic.width() as usize, dynamic.height() as usize);
    let (tw, th) = opts.scaled_dims(w, h);
    let resize = (tw, th) != (w, h);
    let filter = FilterType::Lanczos3;
    let (channels, mut data) = if opts.color {
        let mut buf = dynamic.to_rgb32f();
        drop(dynamic);
        if resize {
            buf = image::imageops::resize(&buf, tw as u32, th as u32, filter);
        }
        (3, buf.into_raw())
    } else {
        let mut buf = dynamic.to_luma32f();
        drop(dynamic);
        if resize {
            buf = image::imageops::resize(&buf, tw as u32, th as u32, filter);
        }
        (1, buf.into_raw())
    };
    for v in &mut data {
        // Lanczos rings slightly outside the input range; NaN cannot occur.
        *v = v.clamp(0.0, 1.0);
    }
    Image::new(tw, th, channels, data).map_err(one_line)
}

impl ImageSet {
    fn build(entries: Vec<Entry>, options: Checked<LoadOptions>) -> Self {
        let n = entries.len();
        ImageSet {
            entries,
            options,
            cache: Mutex::new(Cache {
                capacity: DEFAULT_CACHE_BYTES,
                ..Cache::default()
            }),
            decodes: AtomicU64::new(0),
            failures: Mutex::new(Failures {
                reason: vec![None; n],
                unreported: Vec::new(),
            }),
        }
    }

    fn probe_entry(
        source: Source,
        name: String,
        opts: &Checked<LoadOptions>,
    ) -> std::result::Result<Entry, String> {
        let ((w, h), alpha) = probe(open(&source)?, opts.color)?;
        let (width, height) = opts.scaled_dims(w, h);
        Ok(Entry {
            source,
            name,
            width,
            height,
            original: (w, h),
            alpha,
        })
    }

    /// Scans `dir` (and its subfolders when `recursive`) for images, reading
    /// only headers (and checking that JPEG streams are complete). Files are
    /// sorted by path so indices are deterministic. Hidden entries (names
    /// starting with `.`) are ignored; every other file that is not a
    /// readable PNG, JPEG, TIFF or BMP is skipped and reported as one warning
    /// line `"PATH: not a readable image (REASON)"`. Images with an alpha
    /// channel add one more line (alpha is dropped when loading).
    ///
    /// Fails if `dir` cannot be read or if no file in it is a readable image;
    /// the error then gives the first reasons, or, when the folder holds only
    /// sub-folders, says that they were not searched.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use lca::image::{ImageSet, LoadOptions};
    /// image::GrayImage::new(16, 8).save(dir.path().join("a.png")).unwrap();
    /// std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    /// let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    /// assert_eq!((set.len(), set.dims(0)), (1, (16, 8)));
    /// assert_eq!(warnings.len(), 1);
    /// ```
    pub fn from_folder(
        dir: &Path,
        recursive: bool,
        opts: LoadOptions,
    ) -> Result<(ImageSet, Vec<String>)> {
        let opts = opts.check()?;
        let mut files = Vec::new();
        let subfolders = walk(dir, recursive, &mut files)?;
        files.sort();
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for path in files {
            let name = path.display().to_string();
            match Self::probe_entry(Source::File(path), name.clone(), &opts) {
                Ok(e) => entries.push(e),
                Err(reason) => warnings.push(format!("{name}: not a readable image ({reason})")),
            }
        }
        if entries.is_empty() {
            return Err(Error::format(dir, no_images_message(&warnings, subfolders)));
        }
        let alpha: Vec<&Entry> = entries.iter().filter(|e| e.alpha).collect();
        if let Some(first) = alpha.first() {
            warnings.push(match alpha.len() {
                1 => format!(
                    "{}: the alpha channel is ignored (transparent pixels keep their colour)",
                    first.name
                ),
                n => format!(
                    "{n} images have an alpha channel, which is ignored (transparent pixels keep their colour), e.g. {}",
                    first.name
                ),
            });
        }
        Ok((Self::build(entries, opts), warnings))
    }

    /// Builds a set from explicit files; unlike [`ImageSet::from_folder`], any
    /// unreadable file is an error, since the user named it.
    /// Alpha channels are dropped; see [`ImageSet::has_alpha`].
    pub fn from_files(paths: &[PathBuf], opts: LoadOptions) -> Result<ImageSet> {
        let opts = opts.check()?;
        if paths.is_empty() {
            return Err(Error::Data("no image files given".into()));
        }
        let entries = paths
            .iter()
            .map(|p| {
                Self::probe_entry(Source::File(p.clone()), p.display().to_string(), &opts)
                    .map_err(|reason| Error::format(p, format!("not a readable image ({reason})")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::build(entries, opts))
    }

    /// Like [`ImageSet::from_files`] for encoded images already in memory,
    /// as `(name, bytes)` pairs; `name` only labels the image in errors.
    ///
    /// ```
    /// use lca::image::{ImageSet, LoadOptions};
    /// let mut png = Vec::new();
    /// image::GrayImage::new(4, 3)
    ///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    ///     .unwrap();
    /// let set = ImageSet::from_memory(vec![("a.png".into(), png)], LoadOptions::default()).unwrap();
    /// assert_eq!(set.load(0).unwrap().width, 4);
    /// assert!(ImageSet::from_memory(vec![("b".into(), vec![1, 2])], LoadOptions::default()).is_err());
    /// ```
    pub fn from_memory(items: Vec<(String, Vec<u8>)>, opts: LoadOptions) -> Result<ImageSet> {
        let opts = opts.check()?;
        if items.is_empty() {
            return Err(Error::Data("no images given".into()));
        }
        let entries = items
            .into_iter()
            .map(|(name, bytes)| {
                Self::probe_entry(Source::Memory(bytes.into()), name.clone(), &opts).map_err(
                    |reason| Error::format(&name, format!("not a readable image ({reason})")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::build(entries, opts))
    }

    /// The sample images compiled into the binary: `camera.png` (512×512
    /// gray), `chelsea.png` (451×300 RGB) and `coffee.png` (600×400 RGB), all
    /// CC0. Names are `embedded:FILE`.
    pub fn embedded(opts: LoadOptions) -> Result<ImageSet> {
        let opts = opts.check()?;
        let entries = EMBEDDED
            .iter()
            .map(|(name, bytes)| {
                Self::probe_entry(Source::Embedded(bytes), format!("embedded:{name}"), &opts)
                    .map_err(|reason| {
                        Error::format(*name, format!("embedded image unreadable ({reason})"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::build(entries, opts))
    }

    /// Replaces the cache bound (bytes of decoded pixels; 0 disables caching).
    /// Images larger than the bound are decoded on every load.
    pub fn with_cache_bytes(self, bytes: usize) -> Self {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.capacity = bytes;
            cache.map.clear();
            cache.used = 0;
        }
        self
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set holds no image (never true for a constructed set).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The options images are loaded with.
    pub fn options(&self) -> LoadOptions {
        *self.options
    }

    /// Channels of every loaded image: 3 with `color`, else 1.
    pub fn channels(&self) -> usize {
        if self.options.color { 3 } else { 1 }
    }

    /// Display name of image `i` (its path, or `embedded:FILE`).
    pub fn name(&self, i: usize) -> &str {
        &self.entries[i].name
    }

    /// `(width, height)` of image `i` as loaded (after orientation and downscaling).
    pub fn dims(&self, i: usize) -> (usize, usize) {
        (self.entries[i].width, self.entries[i].height)
    }

    /// `(width, height)` of image `i` in its file (after orientation, before
    /// downscaling).
    pub fn original_dims(&self, i: usize) -> (usize, usize) {
        self.entries[i].original
    }

    /// Whether image `i` has an alpha channel (dropped when loading).
    pub fn has_alpha(&self, i: usize) -> bool {
        self.entries[i].alpha
    }

    /// Whether image `i` failed to decode (see the type's docs).
    pub fn is_bad(&self, i: usize) -> bool {
        self.lock_failures().reason[i].is_some()
    }

    /// Whether image `i` can give a `patch × patch` patch: not bad and large
    /// enough after downscaling.
    pub fn is_usable(&self, i: usize, patch: usize) -> bool {
        let e = &self.entries[i];
        e.width >= patch && e.height >= patch && !self.is_bad(i)
    }

    /// Number of images that can give a `patch × patch` patch
    /// ([`ImageSet::is_usable`]).
    pub fn usable_for_patch(&self, patch: usize) -> usize {
        (0..self.len())
            .filter(|&i| self.is_usable(i, patch))
            .count()
    }

    /// One warning line per image that failed to decode since the last call
    /// (`"PATH: cannot decode image (REASON), skipped"`), so a long run can
    /// report each bad file once, when it is found.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.lock_failures().unreported)
    }

    /// Checks that some image can give a `patch × patch` patch and returns
    /// one warning line `"PATH: W×H is smaller than the P×P patch, skipped"`
    /// per image too small to contribute (samplers skip those).
    ///
    /// Fails with [`Error::InvalidSetting`] when no image is usable, naming
    /// the largest image size, or the decode failures when every image failed.
    pub fn check_patch(&self, patch: usize) -> Result<Vec<String>> {
        if patch == 0 {
            return Err(Error::setting(
                "patch_size",
                "patch size must be at least 1",
            ));
        }
        let bad = self.failures().to_vec();
        let good: Vec<&Entry> = self
            .entries
            .iter()
            .zip(&bad)
            .filter(|(_, b)| b.is_none())
            .map(|(e, _)| e)
            .collect();
        let scaled = |e: &Entry| {
            if self.options.downscale == 1.0 {
                format!("{}×{}", e.width, e.height)
            } else {
                format!(
                    "{}×{} (after downscale {})",
                    e.width, e.height, self.options.downscale
                )
            }
        };
        if good.is_empty() {
            let reasons: Vec<String> = self
                .entries
                .iter()
                .zip(&bad)
                .filter_map(|(e, b)| Some(format!("{}: {}", e.name, b.as_ref()?)))
                .collect();
            return Err(Error::Data(format!(
                "no image could be decoded: {}",
                first_few(&reasons)
            )));
        }
        if !good.iter().any(|e| e.width >= patch && e.height >= patch) {
            let largest = good
                .iter()
                .max_by_key(|e| e.width.min(e.height))
                .map(|e| scaled(e))
                .unwrap_or_default();
            return Err(Error::setting(
                "patch_size",
                format!(
                    "every image is smaller than the {patch}×{patch} patch (largest {largest})"
                ),
            ));
        }
        Ok(good
            .iter()
            .filter(|e| e.width < patch || e.height < patch)
            .map(|e| {
                format!(
                    "{}: {} is smaller than the {patch}×{patch} patch, skipped",
                    e.name,
                    scaled(e)
                )
            })
            .collect())
    }

    /// Decodes image `i` (or returns it from the cache). A decode failure
    /// marks the image bad (see the type's docs).
    pub fn load(&self, i: usize) -> Result<Arc<Image>> {
        self.load_derived(i, 0, |img| Ok(img.clone()))
    }

    /// Returns image `i` transformed by `make`, caching the result under
    /// `(i, key)`. `key` 0 is the raw image; other keys must identify `make`.
    /// The raw image is not cached on the way, so a set used only through a
    /// transform holds only transformed images.
    pub(crate) fn load_derived(
        &self,
        i: usize,
        key: u64,
        make: impl FnOnce(&Image) -> Result<Image>,
    ) -> Result<Arc<Image>> {
        if let Some(img) = self.lock().get((i, key)) {
            return Ok(img);
        }
        let raw = match self.lock().get((i, 0)) {
            Some(img) => img,
            None => Arc::new(self.decode_or_mark(i)?),
        };
        let img = if key == 0 { raw } else { Arc::new(make(&raw)?) };
        self.lock().insert((i, key), &img);
        Ok(img)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failures(&self) -> Vec<Option<String>> {
        self.lock_failures().reason.clone()
    }

    /// [`Self::decode`], remembering a failure so it is reported once and
    /// never retried.
    fn decode_or_mark(&self, i: usize) -> Result<Image> {
        let name = &self.entries[i].name;
        let error = |reason: &str| Error::format(name, format!("cannot decode image ({reason})"));
        if let Some(reason) = &self.lock_failures().reason[i] {
            return Err(error(reason));
        }
        self.decode(i).map_err(|reason| {
            let mut f = self.lock_failures();
            if f.reason[i].is_none() {
                f.unreported
                    .push(format!("{name}: cannot decode image ({reason}), skipped"));
                f.reason[i] = Some(reason.clone());
            }
            error(&reason)
        })
    }

    /// Number of image decodes so far (loads the cache did not serve).
    pub fn decode_count(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    fn decode(&self, i: usize) -> std::result::Result<Image, String> {
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let entry = &self.entries[i];
        let img = decode_reader(open(&entry.source)?, &self.options)?;
        if (img.width, img.height) != (entry.width, entry.height) {
            return Err(format!(
                "image changed since the folder was scanned ({}×{} now, {}×{} before)",
                img.width, img.height, entry.width, entry.height
            ));
        }
        Ok(img)
    }
}

/// At most three of `reasons`, then how many more.
fn first_few(reasons: &[String]) -> String {
    let mut text = reasons[..reasons.len().min(3)].join("; ");
    if reasons.len() > 3 {
        text.push_str(&format!("; and {} more", reasons.len() - 3));
    }
    text
}

/// Why a folder scan found nothing: the first reasons, or what to do.
fn no_images_message(warnings: &[String], subfolders: usize) -> String {
    if !warnings.is_empty() {
        let n = warnings.len();
        let files = if n == 1 { "file" } else { "files" };
        return format!(
            "no readable images ({n} {files} skipped: {})",
            first_few(warnings)
        );
    }
    match subfolders {
        0 => "no readable images (the folder holds no files)".into(),
        n => format!(
            "no readable images (no files here; {n} sub-folder{} not searched: pass --recursive)",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// Collects regular files under `dir`, skipping hidden entries and not
/// following symlinked directories (no loops). Returns the number of
/// sub-folders left out because `recursive` is off.
fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<usize> {
    let read = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut skipped = 0;
    for entry in read {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            if recursive {
                walk(&path, recursive, out)?;
            } else {
                skipped += 1;
            }
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(skipped)
}
