"""Appearance for the synthetic hand engine: skin tones, object colours and procedural clutter.

Backgrounds must not let a model find the hand by colour alone, so each one mixes a two-colour
gradient, smooth colour noise (a random 6x6 grid upsampled bilinearly), a stripe or checker
texture and up to ``MAX_SHAPES`` random ellipses, rectangles and thin bars, a share of which
(``SKIN_SHAPE_PROB``) are painted in skin tones.

Parameters are drawn per sample with numpy (``sample_background``) and drawn for a whole batch in
torch (``render_background``) on any device; shape coordinates are in units of the image side, so
a background looks the same at every resolution.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Skin tones from light to dark (sRGB in 0..1); a hand's tone interpolates between neighbours.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.90, 0.72, 0.60], [0.80, 0.60, 0.47],
    [0.66, 0.46, 0.34], [0.50, 0.33, 0.23], [0.34, 0.22, 0.15],
])
MAX_SHAPES = 8
SKIN_SHAPE_PROB = 0.25
NOISE_GRID = 6


def sample_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A skin tone: a point on the light-to-dark palette, with ±4 % jitter per channel."""
    position = rng.uniform(0, len(SKIN_TONES) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(SKIN_TONES) - 1)
    tone = SKIN_TONES[low] + (position - low) * (SKIN_TONES[high] - SKIN_TONES[low])
    return np.clip(tone * rng.uniform(0.96, 1.04, 3), 0, 1)


def sample_colour(rng: np.random.Generator, skin_prob: float = 0.0) -> np.ndarray:
    """A random object or clutter colour; with probability ``skin_prob`` a skin tone."""
    if rng.random() < skin_prob:
        return sample_skin_tone(rng)
    return rng.uniform(0.05, 0.95, 3)


def sample_texture(rng: np.random.Generator, max_amplitude: float) -> np.ndarray:
    """Stripe texture (amplitude, cycles per image width, angle, phase)."""
    return np.array([rng.uniform(0, max_amplitude), rng.uniform(4, 40),
                     rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)])


def sample_background(rng: np.random.Generator, plain: bool = False) -> dict[str, np.ndarray]:
    """Parameters of one procedural background (fixed shapes, so samples stack into a batch).

    ``plain``: a dark, nearly uniform backdrop (a capture studio's, as in InterHand2.6M): a
    gradient between two dark greys and faint noise, no texture and no shapes."""
    if plain:
        grey = rng.uniform(0.05, 0.25)
        return {
            "gradient": np.concatenate([np.full(3, grey), np.full(3, grey * rng.uniform(0.7, 1.3)),
                                        [rng.uniform(0, 2 * np.pi)]]),
            "noise": rng.standard_normal((3, NOISE_GRID, NOISE_GRID)) * 0.01,
            "texture": np.zeros(5), "shapes": np.zeros((MAX_SHAPES, 7)),
            "shape_colours": np.zeros((MAX_SHAPES, 3)),
        }
    count = rng.integers(2, MAX_SHAPES + 1)
    shapes = np.zeros((MAX_SHAPES, 7))  # active, kind, cx, cy, half-width, half-height, angle
    colours = np.zeros((MAX_SHAPES, 3))
    for k in range(count):
        kind = rng.integers(0, 3)  # ellipse, rectangle, bar (a thin rectangle)
        half_height = rng.uniform(0.005, 0.03) if kind == 2 else rng.uniform(0.04, 0.35)
        shapes[k] = [1, min(kind, 1), rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1),
                     rng.uniform(0.04, 0.35), half_height, rng.uniform(0, np.pi)]
        colours[k] = sample_colour(rng, SKIN_SHAPE_PROB)
    return {
        "gradient": np.concatenate([sample_colour(rng), sample_colour(rng),
                                    [rng.uniform(0, 2 * np.pi)]]),
        "noise": rng.standard_normal((3, NOISE_GRID, NOISE_GRID)) * rng.uniform(0.02, 0.2),
        "texture": np.concatenate([sample_texture(rng, 0.35), [rng.random() < 0.3]]),
        "shapes": shapes,
        "shape_colours": colours,
    }


def render_background(params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Backgrounds (B,H,W,3) in [0,1] from stacked ``sample_background`` parameters."""
    gradient = params["gradient"]
    device, dtype = gradient.device, gradient.dtype
    u = ((torch.arange(width, device=device, dtype=dtype) + 0.5) / width)[None, None, :]
    v = ((torch.arange(height, device=device, dtype=dtype) + 0.5) / width)[None, :, None]
    angle = gradient[:, 6, None, None]
    ramp = (0.5 + (u - 0.5) * angle.cos() + (v - 0.5) * angle.sin()).clamp(0, 1)
    image = gradient[:, None, None, 0:3] + ramp[..., None] * (
        gradient[:, None, None, 3:6] - gradient[:, None, None, 0:3])
    image = image + F.interpolate(params["noise"], size=(height, width), mode="bilinear",
                                  align_corners=False).permute(0, 2, 3, 1)

    used = int(params["shapes"][:, :, 0].sum(dim=1).max())  # active shapes come first
    if used:
        image = _draw_shapes(image, params, u, v, used)
    return _textured(image, params["texture"], u, v)


def _draw_shapes(image: torch.Tensor, params: dict[str, torch.Tensor], u: torch.Tensor,
                 v: torch.Tensor, used: int) -> torch.Tensor:
    """Paint the first ``used`` shapes of each background over ``image``, in order."""
    device = image.device
    shapes = params["shapes"][:, :used, :, None, None]  # (B, S, 7, 1, 1)
    du, dv = u[:, None] - shapes[:, :, 2], v[:, None] - shapes[:, :, 3]
    cos, sin = shapes[:, :, 6].cos(), shapes[:, :, 6].sin()
    along = (du * cos + dv * sin) / shapes[:, :, 4]
    across = (dv * cos - du * sin) / shapes[:, :, 5]
    a2, c2 = along * along, across * across
    metric = torch.where(shapes[:, :, 1] > 0, torch.maximum(a2, c2), a2 + c2)  # rectangle, ellipse
    inside = (metric < 1) & (shapes[:, :, 0] > 0)
    order = torch.arange(1, used + 1, device=device)[None, :, None, None]
    top = (inside * order).amax(dim=1)  # the last-drawn shape covering each pixel, 0 if none
    index = (top - 1).clamp_min(0)
    shade = 0.85 + 0.15 * along.gather(1, index[:, None]).clamp(-1, 1)[:, 0]
    colour = params["shape_colours"].gather(
        1, index.reshape(len(index), -1, 1).expand(-1, -1, 3)).reshape(image.shape)
    return torch.where(top[..., None] > 0, colour * shade[..., None], image)


def _textured(image: torch.Tensor, texture: torch.Tensor, u: torch.Tensor,
              v: torch.Tensor) -> torch.Tensor:
    """Modulate ``image`` by each background's stripe or checker texture."""
    dtype = image.dtype
    texture = texture.double()
    a, cycles, theta, phase, checker = (texture[:, k, None, None] for k in range(5))
    u64, v64 = u.double(), v.double()
    # float64 sines: identical values whichever vector or scalar path evaluates them
    wave = (2 * torch.pi * cycles * (u64 * theta.cos() + v64 * theta.sin()) + phase).sin()
    if bool((checker > 0).any()):
        cross = (2 * torch.pi * cycles * (v64 * theta.cos() - u64 * theta.sin())).sin()
        wave = torch.where(checker > 0, torch.sign(wave * cross), wave)
    image = image * (1.0 - a * (0.5 + 0.5 * wave)).to(dtype)[..., None]
    return image.clamp(0.0, 1.0)
