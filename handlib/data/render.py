"""A z-buffered per-pixel renderer for the synthetic hand engine, batched in torch on any device.

The scene is given in screen space (already projected by the caller, who owns the camera):

- **capsules** (finger segments, joints as zero-length capsules, palm edges, forearm, objects):
  end points ``a``, ``b`` in pixels, their depths ``za``, ``zb`` (mm, camera ``z``), their
  projected radii ``ra``, ``rb`` (pixels) and 3D radii ``Ra``, ``Rb`` (mm). A pixel ``p`` is
  covered when its distance to the projected axis is below the radius interpolated at the
  closest axis point ``t``; its depth is the axis depth there minus the 3D radius times the
  spherical bulge ``sqrt(1 - d²/r²)``, and its normal is ``((p - q)/r, -bulge)``. This is the
  usual screen-space approximation of a tapered capsule (exact for spheres seen head-on).
- **triangles** (the palm plate, flat objects): projected vertices, vertex depths interpolated
  perspective-correctly (``1/z`` is linear in screen space) and moved ``offset`` mm towards the
  camera (the palm's half thickness), with a constant normal.

Coordinates follow ``handlib.codecs``: pixel ``(row, col)`` covers ``[col, col+1) x
[row, row+1)`` and is sampled at its centre ``(col + 0.5, row + 0.5)``.

Speed: the image is cut into ``tile`` x ``tile`` tiles, and each primitive is evaluated only on
the tiles its 2D bounding box touches. The nearest surface per pixel is found with one
``scatter_reduce(amin)`` over an integer key ``(depth in µm) << 12 | primitive id``, so the
result is exact, deterministic and independent of the batch size and of the device's
scatter order (ties go to the lower primitive id). The same code runs on a CPU tensor of one
sample or a GPU batch of hundreds.
"""
from __future__ import annotations

import torch

_ID_BITS = 12
MAX_PRIMITIVES = 1 << _ID_BITS
_NO_HIT = torch.iinfo(torch.int64).max


def _tile_pairs(lo: torch.Tensor, hi: torch.Tensor, active: torch.Tensor, height: int,
                width: int, tile: int):
    """(batch, primitive, pixel x, pixel y, pixel valid) for every pixel of every tile that a
    primitive's bounding box [lo, hi] (B,N,2) touches."""
    device = lo.device
    starts_x = torch.arange(0, width, tile, device=device, dtype=lo.dtype)
    starts_y = torch.arange(0, height, tile, device=device, dtype=lo.dtype)
    over_x = (hi[..., 0:1] >= starts_x) & (lo[..., 0:1] < starts_x + tile)
    over_y = (hi[..., 1:2] >= starts_y) & (lo[..., 1:2] < starts_y + tile)
    overlap = over_y[..., :, None] & over_x[..., None, :] & active[..., None, None]
    b, n, ty, tx = overlap.nonzero(as_tuple=True)
    offsets = torch.arange(tile, device=device)
    oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
    px = tx[:, None] * tile + ox.reshape(1, -1)
    py = ty[:, None] * tile + oy.reshape(1, -1)
    valid = (px < width) & (py < height)
    return b, n, px, py, valid


def _capsule_hits(caps: dict, height: int, width: int, tile: int):
    lo = torch.minimum(caps["a"] - caps["ra"][..., None], caps["b"] - caps["rb"][..., None])
    hi = torch.maximum(caps["a"] + caps["ra"][..., None], caps["b"] + caps["rb"][..., None])
    b, n, px, py, valid = _tile_pairs(lo, hi, caps["active"], height, width, tile)
    a, e = caps["a"][b, n], caps["b"][b, n]
    x = px + 0.5 - a[:, 0:1]
    y = py + 0.5 - a[:, 1:2]
    abx, aby = (e[:, 0] - a[:, 0])[:, None], (e[:, 1] - a[:, 1])[:, None]
    length2 = (abx * abx + aby * aby).clamp_min(1e-12)
    t = ((x * abx + y * aby) / length2).clamp(0.0, 1.0)
    dx, dy = x - t * abx, y - t * aby
    d2 = dx * dx + dy * dy
    ra, rb = caps["ra"][b, n][:, None], caps["rb"][b, n][:, None]
    r = ra + t * (rb - ra)
    inside = valid & (d2 < r * r)
    bulge = (1.0 - d2 / (r * r)).clamp_min(0.0).sqrt()
    za, zb = caps["za"][b, n][:, None], caps["zb"][b, n][:, None]
    big_a, big_b = caps["Ra"][b, n][:, None], caps["Rb"][b, n][:, None]
    depth = za + t * (zb - za) - (big_a + t * (big_b - big_a)) * bulge
    normal = torch.stack([dx / r, dy / r, -bulge], dim=-1)
    prim = n[:, None].expand_as(px)
    return _select(inside, b, px, py, depth, normal, prim, height, width)


def _triangle_hits(tris: dict, height: int, width: int, tile: int, first_id: int):
    v = tris["v"]
    b, n, px, py, valid = _tile_pairs(v.amin(dim=2), v.amax(dim=2), tris["active"], height,
                                      width, tile)
    v = v[b, n]
    x0, y0 = v[:, 0, 0:1], v[:, 0, 1:2]
    x1, y1 = v[:, 1, 0:1], v[:, 1, 1:2]
    x2, y2 = v[:, 2, 0:1], v[:, 2, 1:2]
    den = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    safe = torch.where(den.abs() > 1e-9, den, torch.ones_like(den))
    x, y = px + 0.5 - x0, py + 0.5 - y0
    w1 = (x * (y2 - y0) - (x2 - x0) * y) / safe
    w2 = ((x1 - x0) * y - x * (y1 - y0)) / safe
    w0 = 1.0 - w1 - w2
    inside = valid & (den.abs() > 1e-9) & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    z = tris["z"][b, n]
    inverse = w0 / z[:, 0:1] + w1 / z[:, 1:2] + w2 / z[:, 2:3]
    depth = 1.0 / inverse.clamp_min(1e-12) - tris["offset"][b, n][:, None]
    normal = tris["normal"][b, n][:, None, :].expand(*px.shape, 3)
    prim = (n + first_id)[:, None].expand_as(px)
    return _select(inside, b, px, py, depth, normal, prim, height, width)


def _select(inside, b, px, py, depth, normal, prim, height, width):
    pixel = (b[:, None] * height + py) * width + px
    return pixel[inside], depth[inside], normal[inside], prim[inside]


def plane_depth(K: torch.Tensor, plane: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Depth (B,H,W) of the planes ``n . X = c`` (``plane`` (B,4) = n, c) along each pixel's ray,
    for intrinsics ``K`` (B,3,3) of the form [[fx,0,cx],[0,fy,cy],[0,0,1]]."""
    device, dtype = K.device, K.dtype
    xs = torch.arange(width, device=device, dtype=dtype) + 0.5
    ys = torch.arange(height, device=device, dtype=dtype) + 0.5
    rx = (xs[None, None, :] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None]
    ry = (ys[None, :, None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None]
    denominator = plane[:, 0, None, None] * rx + plane[:, 1, None, None] * ry + plane[:, 2, None, None]
    return plane[:, 3, None, None] / denominator.clamp_min(1e-6)


def render(caps: dict, tris: dict, background: torch.Tensor | None,
           background_depth: torch.Tensor, light: dict, tile: int = 8) -> dict:
    """Render a batch of scenes.

    ``caps``: a, b (B,P,2) px; za, zb, ra, rb (px), Ra, Rb (mm) (B,P); albedo (B,P,3);
    texture (B,P,4) = (amplitude, cycles per image width, angle rad, phase rad); active (B,P).
    ``tris``: v (B,T,3,2) px; z (B,T,3) mm; offset (B,T) mm; normal (B,T,3); albedo; texture;
    active. ``background`` (B,H,W,3) in [0,1] or ``None`` for a depth-only render;
    ``background_depth`` (B,H,W) mm (a surface behind the scene: it hides what lies beyond it).
    ``light``: direction (B,3) towards the light, ambient (B,), diffuse (B,).

    Returns ``depth`` (B,H,W) mm, ``prim`` (B,H,W) int64 (capsule id, ``P +`` triangle id, or -1
    for the background) and, with a background, ``image`` (B,H,W,3) float in [0,1].
    """
    batch, height, width = background_depth.shape
    num_caps = caps["a"].shape[1]
    if num_caps + tris["v"].shape[1] > MAX_PRIMITIVES:
        raise ValueError(f"at most {MAX_PRIMITIVES} primitives per scene can be rendered")
    hits = [_capsule_hits(caps, height, width, tile),
            _triangle_hits(tris, height, width, tile, num_caps)]
    pixel, depth, normal, prim = (torch.cat(parts) for parts in zip(*hits))
    key = ((depth * 1000.0).round().to(torch.int64) << _ID_BITS) | prim
    count = batch * height * width
    nearest = torch.full((count,), _NO_HIT, dtype=torch.int64, device=depth.device)
    nearest.scatter_reduce_(0, pixel, key, reduce="amin")
    win = key == nearest[pixel]
    pixel, depth, normal, prim = pixel[win], depth[win], normal[win], prim[win]
    flat_bg = background_depth.reshape(-1)
    front = depth < flat_bg[pixel]  # the background surface hides what lies beyond it
    pixel, depth, normal, prim = pixel[front], depth[front], normal[front], prim[front]

    prim_buffer = torch.full((count,), -1, dtype=torch.int64, device=depth.device)
    prim_buffer[pixel] = prim
    depth_buffer = flat_bg.clone()
    depth_buffer[pixel] = depth
    out = {"depth": depth_buffer.reshape(batch, height, width),
           "prim": prim_buffer.reshape(batch, height, width)}
    if background is None:
        return out

    sample = pixel // (height * width)
    albedo = torch.cat([caps["albedo"], tris["albedo"]], dim=1)[sample, prim]
    texture = torch.cat([caps["texture"], tris["texture"]], dim=1)[sample, prim].double()
    u = ((pixel % width).double() + 0.5) / width
    v = (((pixel // width) % height).double() + 0.5) / width
    phase = 2 * torch.pi * texture[:, 1] * (u * texture[:, 2].cos() + v * texture[:, 2].sin())
    # float64 sine: identical values whichever vector or scalar path evaluates it
    stripes = (1.0 - texture[:, 0] * (0.5 + 0.5 * (phase + texture[:, 3]).sin())).to(albedo.dtype)
    lambert = (normal * light["direction"][sample]).sum(-1).clamp_min(0.0)
    shade = light["ambient"][sample] + light["diffuse"][sample] * lambert
    colour = (albedo * (stripes * shade)[:, None]).clamp(0.0, 1.0)
    image = background.reshape(count, 3).clone()
    image[pixel] = colour
    out["image"] = image.reshape(batch, height, width, 3)
    return out
