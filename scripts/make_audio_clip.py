#!/usr/bin/env python3
"""Synthesises assets/speech_like_16k.wav: a few seconds of speech-like audio for 1-D
convolutional coding (issue 25), generated here so it is ours to license (CC0).

    python3 scripts/make_audio_clip.py [--out assets/speech_like_16k.wav] [--seconds 4] [--seed 25]
    python3 scripts/make_audio_clip.py --speakers 16 --folder voices/   # a learning corpus

With --speakers N, N clips (voices/speaker00.wav, ...) of --seconds each, one synthetic speaker
per clip (seed + i): the pitch scaled by 2^u, u uniform in [-0.6, 0.9] (F0 from ~80 Hz to
~270 Hz), and the formants by a vocal-tract factor uniform in [0.85, 1.25] (long to short
tracts). One speaker's clip is quasi-periodic at one pitch, and a convolutional learner can
code it with pitch-period snippets; across speakers only the vocal tract's responses recur
(issue 25: learned 1-D kernels).

A source-filter voice (Klatt-style): a glottal pulse train (Rosenberg pulses, jittered) with a
pitch contour per syllable (rise then fall, overall declination), through a cascade of
time-varying formant resonators (F1-F4) that glide from one vowel target to the next, with an
amplitude envelope per syllable. Between syllables, fricative-like noise bursts (noise through
a high resonance, as /s/ and /sh/) and short plosive bursts. A little background noise (-50
dB). 16 kHz mono 16-bit PCM, peak -3 dBFS. Deterministic for a seed (numpy's PCG64), so the
committed clip is exactly what this script writes.

Requirements: Python >= 3.9, numpy (the file is written with the standard library's `wave`).
"""
import argparse
import os
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 16000

# Formant targets (Hz) and bandwidths of a few vowels (Peterson & Barney-like, male voice).
VOWELS = {
    "a": ((730, 1090, 2440, 3400), (90, 110, 160, 250)),
    "i": ((270, 2290, 3010, 3700), (60, 100, 150, 250)),
    "u": ((300, 870, 2240, 3300), (60, 90, 150, 250)),
    "e": ((530, 1840, 2480, 3500), (70, 100, 150, 250)),
    "o": ((570, 840, 2410, 3400), (80, 100, 150, 250)),
}


def rosenberg_pulse(n_open, n_close):
    """One glottal flow derivative period shape (Rosenberg 1971, type C), open + closing phase."""
    t1 = np.arange(n_open) / n_open
    t2 = np.arange(n_close) / max(n_close, 1)
    flow = np.concatenate([0.5 * (1 - np.cos(np.pi * t1)), np.cos(0.5 * np.pi * t2)])
    return np.diff(flow, prepend=0.0)


def glottal_source(f0, rng):
    """Pulse train following the per-sample pitch track f0 (Hz; 0 = unvoiced), with jitter."""
    out = np.zeros(len(f0))
    t = 0
    while t < len(f0):
        if f0[t] <= 0:
            t += 1
            continue
        period = RATE / f0[t] * (1 + 0.01 * rng.standard_normal())
        n = int(round(period))
        pulse = rosenberg_pulse(int(0.4 * n), int(0.16 * n))
        end = min(len(out), t + len(pulse))
        out[t:end] += pulse[:end - t] * (1 + 0.05 * rng.standard_normal())
        t += n
    return out


def resonator(x, freq, bw):
    """Second-order resonator (Klatt 1980) with per-sample centre frequency and bandwidth."""
    c = -np.exp(-2 * np.pi * bw / RATE)
    b = 2 * np.exp(-np.pi * bw / RATE) * np.cos(2 * np.pi * freq / RATE)
    a = 1 - b - c
    y = np.zeros(len(x))
    y1 = y2 = 0.0
    for n in range(len(x)):
        y0 = a[n] * x[n] + b[n] * y1 + c[n] * y2
        y[n] = y0
        y2, y1 = y1, y0
    return y


def syllable_plan(seconds, rng, pitch=1.0):
    """(start, length, vowel, f0 peak) of voiced syllables, with gaps for consonants."""
    plan, t = [], 0.12
    names = list(VOWELS)
    while t < seconds - 0.3:
        length = rng.uniform(0.16, 0.32)
        plan.append((t, length, names[rng.integers(len(names))], rng.uniform(115, 150) * pitch))
        t += length + rng.uniform(0.05, 0.14)
    return plan


def synthesise(seconds, seed, pitch=1.0, tract=1.0):
    """The clip: `pitch` scales F0, `tract` the formant frequencies (1, 1: the shipped voice)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    time = np.arange(n) / RATE
    plan = syllable_plan(seconds, rng, pitch)
    f0 = np.zeros(n)
    env = np.zeros(n)
    formants = np.zeros((4, n))
    bands = np.zeros((4, n))
    # Vowel targets at syllable centres, linearly interpolated in between (coarticulation).
    centres = [s + 0.5 * l for s, l, _, _ in plan]
    for k in range(4):
        formants[k] = np.interp(time, centres, [VOWELS[v][0][k] * tract for _, _, v, _ in plan])
        bands[k] = np.interp(time, centres, [VOWELS[v][1][k] for _, _, v, _ in plan])
    declination = 1 - 0.15 * time / seconds
    for start, length, _, peak in plan:
        i0, i1 = int(start * RATE), min(n, int((start + length) * RATE))
        u = np.linspace(0, 1, i1 - i0)
        f0[i0:i1] = peak * declination[i0:i1] * (0.9 + 0.15 * np.sin(np.pi * u ** 0.8))
        env[i0:i1] = np.sin(np.pi * u) ** 0.6
    voiced = glottal_source(f0, rng) * env
    for k in range(4):
        voiced = resonator(voiced, formants[k], bands[k])
    voiced /= np.max(np.abs(voiced))

    # Consonants in the gaps: fricatives (high resonant noise) and plosive bursts.
    noise = np.zeros(n)
    ends = [0.0] + [s + l for s, l, _, _ in plan]
    starts = [s for s, _, _, _ in plan] + [seconds]
    for gap_start, gap_end in zip(ends, starts):
        if gap_end - gap_start < 0.04:
            continue
        i0, i1 = int(gap_start * RATE), int(gap_end * RATE)
        burst = rng.standard_normal(i1 - i0)
        if rng.random() < 0.6:  # fricative, /s/ (~5 kHz) or /sh/ (~2.8 kHz)
            centre = rng.choice([5000.0, 2800.0])
            burst = resonator(burst, np.full(i1 - i0, centre), np.full(i1 - i0, 900.0))
            burst *= np.sin(np.pi * np.linspace(0, 1, i1 - i0)) * 0.25
        else:  # plosive: 15 ms decaying burst at the end of the gap
            m = min(i1 - i0, int(0.015 * RATE))
            burst[:-m] = 0
            burst[-m:] *= np.exp(-np.arange(m) / (0.003 * RATE)) * 0.5
        noise[i0:i1] += burst
    signal = voiced + noise / max(np.max(np.abs(noise)), 1e-9) * 0.3
    signal += 10 ** (-50 / 20) * rng.standard_normal(n)
    return signal / np.max(np.abs(signal)) * 10 ** (-3 / 20)


def write(path, x):
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    print(f"{path}: {len(pcm)} samples, {len(pcm) / RATE:.2f} s at {RATE} Hz, "
          f"{os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "assets", "speech_like_16k.wav"))
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--speakers", type=int, default=0, help="write this many clips, one speaker each")
    ap.add_argument("--folder", default="voices", help="where --speakers writes its clips")
    a = ap.parse_args()
    if a.speakers <= 0:
        write(a.out, synthesise(a.seconds, a.seed))
        return
    os.makedirs(a.folder, exist_ok=True)
    voices = np.random.default_rng([a.seed, 1])
    for i in range(a.speakers):
        pitch, tract = 2.0 ** voices.uniform(-0.6, 0.9), voices.uniform(0.85, 1.25)
        write(os.path.join(a.folder, f"speaker{i:02d}.wav"), synthesise(a.seconds, a.seed + i, pitch, tract))


if __name__ == "__main__":
    main()
