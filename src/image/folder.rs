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
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

use super::Image;
use crate::error::{Error, Result};

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
    pub fn validate(&self) -> Result<()> {
        if !(self.downscale.is_finite() && self.downscale >= 1.0) {
            return Err(Error::InvalidSetting(format!(
                "downscale must be a finite factor >= 1, got {}",
                self.downscale
            )));
        }
        Ok(())
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
}

#[derive(Clone, Debug)]
struct Entry {
    source: Source,
    name: String,
    /// Size after orientation and downscaling.
    width: usize,
    height: usize,
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
#[derive(Debug)]
pub struct ImageSet {
    entries: Vec<Entry>,
    options: LoadOptions,
    cache: Mutex<Cache>,
    /// Images decoded so far (cache misses), for tests and throughput reports.
    decodes: AtomicU64,
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

/// Reads the header only: oriented size in pixels, after checking limits.
fn probe<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    color: bool,
) -> std::result::Result<(usize, usize), String> {
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(one_line)?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().map_err(one_line)?;
    check_size(w, h, color)?;
    Ok(oriented(w, h, orientation))
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
    opts: LoadOptions,
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
    fn build(entries: Vec<Entry>, options: LoadOptions) -> Self {
        ImageSet {
            entries,
            options,
            cache: Mutex::new(Cache {
                capacity: DEFAULT_CACHE_BYTES,
                ..Cache::default()
            }),
            decodes: AtomicU64::new(0),
        }
    }

    fn probe_entry(
        source: Source,
        name: String,
        opts: LoadOptions,
    ) -> std::result::Result<Entry, String> {
        let (w, h) = match &source {
            Source::File(path) => {
                let reader = ImageReader::open(path)
                    .map_err(one_line)?
                    .with_guessed_format()
                    .map_err(one_line)?;
                probe(reader, opts.color)?
            }
            Source::Embedded(bytes) => {
                let reader = ImageReader::new(Cursor::new(*bytes))
                    .with_guessed_format()
                    .map_err(one_line)?;
                probe(reader, opts.color)?
            }
        };
        let (width, height) = opts.scaled_dims(w, h);
        Ok(Entry {
            source,
            name,
            width,
            height,
        })
    }

    /// Scans `dir` (and its subfolders when `recursive`) for images, reading
    /// only headers. Files are sorted by path so indices are deterministic.
    /// Hidden entries (names starting with `.`) are ignored; every other file
    /// that is not a readable PNG, JPEG, TIFF or BMP is skipped and reported as
    /// one warning line `"PATH: not a readable image (REASON)"`.
    ///
    /// Fails if `dir` cannot be read or if no file in it is a readable image.
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
        opts.validate()?;
        let mut files = Vec::new();
        walk(dir, recursive, &mut files)?;
        files.sort();
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for path in files {
            let name = path.display().to_string();
            match Self::probe_entry(Source::File(path), name.clone(), opts) {
                Ok(e) => entries.push(e),
                Err(reason) => warnings.push(format!("{name}: not a readable image ({reason})")),
            }
        }
        if entries.is_empty() {
            return Err(Error::format(
                dir,
                format!("no readable images ({} files skipped)", warnings.len()),
            ));
        }
        Ok((Self::build(entries, opts), warnings))
    }

    /// Builds a set from explicit files; unlike [`ImageSet::from_folder`], any
    /// unreadable file is an error, since the user named it.
    pub fn from_files(paths: &[PathBuf], opts: LoadOptions) -> Result<ImageSet> {
        opts.validate()?;
        if paths.is_empty() {
            return Err(Error::InvalidSetting("no image files given".into()));
        }
        let entries = paths
            .iter()
            .map(|p| {
                Self::probe_entry(Source::File(p.clone()), p.display().to_string(), opts)
                    .map_err(|reason| Error::format(p, format!("not a readable image ({reason})")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::build(entries, opts))
    }

    /// The sample images compiled into the binary: `camera.png` (512×512
    /// gray), `chelsea.png` (451×300 RGB) and `coffee.png` (600×400 RGB), all
    /// CC0. Names are `embedded:FILE`.
    pub fn embedded(opts: LoadOptions) -> Result<ImageSet> {
        opts.validate()?;
        let entries = EMBEDDED
            .iter()
            .map(|(name, bytes)| {
                Self::probe_entry(Source::Embedded(bytes), format!("embedded:{name}"), opts)
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
        self.options
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

    /// Number of images at least `patch × patch` pixels (after downscaling).
    pub fn usable_for_patch(&self, patch: usize) -> usize {
        self.entries
            .iter()
            .filter(|e| e.width >= patch && e.height >= patch)
            .count()
    }

    /// Fails with [`Error::InvalidSetting`] when no image can hold one
    /// `patch × patch` patch, naming the largest image size.
    pub fn check_patch(&self, patch: usize) -> Result<()> {
        if patch == 0 {
            return Err(Error::InvalidSetting(
                "patch size must be at least 1".into(),
            ));
        }
        if self.usable_for_patch(patch) == 0 {
            let (w, h) = self
                .entries
                .iter()
                .map(|e| (e.width, e.height))
                .max_by_key(|&(w, h)| w.min(h))
                .unwrap_or((0, 0));
            return Err(Error::InvalidSetting(format!(
                "every image is smaller than the {patch}×{patch} patch (largest {w}×{h} after downscale {})",
                self.options.downscale
            )));
        }
        Ok(())
    }

    /// Decodes image `i` (or returns it from the cache).
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
            None => Arc::new(self.decode(i)?),
        };
        let img = if key == 0 { raw } else { Arc::new(make(&raw)?) };
        self.lock().insert((i, key), &img);
        Ok(img)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of image decodes so far (loads the cache did not serve).
    pub fn decode_count(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    fn decode(&self, i: usize) -> Result<Image> {
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let entry = &self.entries[i];
        let img = match &entry.source {
            Source::File(path) => {
                let reader = ImageReader::open(path)
                    .map_err(|e| Error::io(path, e))?
                    .with_guessed_format()
                    .map_err(|e| Error::io(path, e))?;
                decode_reader(reader, self.options)
            }
            Source::Embedded(bytes) => {
                let reader = ImageReader::new(Cursor::new(*bytes))
                    .with_guessed_format()
                    .map_err(|e| Error::io(&entry.name, e))?;
                decode_reader(reader, self.options)
            }
        }
        .map_err(|reason| Error::format(&entry.name, format!("cannot decode image ({reason})")))?;
        if (img.width, img.height) != (entry.width, entry.height) {
            return Err(Error::format(
                &entry.name,
                format!(
                    "image changed since the folder was scanned ({}×{} now, {}×{} before)",
                    img.width, img.height, entry.width, entry.height
                ),
            ));
        }
        Ok(img)
    }
}

/// Collects regular files under `dir`, skipping hidden entries and not
/// following symlinked directories (no loops).
fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let read = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
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
            }
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}
