"""A corruption suite for MNIST: the fifteen families of MNIST-C (Mu & Gilmer 2019,
arXiv:1906.02337, github.com/google-research/mnist-c), written here in torch, batched and seeded.

Each family is a function `f(x, g) -> x'` of a batch of images `x` (float, N x 1 x 28 x 28, ink
1 on a black 0 background) and a CPU `torch.Generator` `g` (every random number is drawn from it,
then moved to `x`'s device, so a seed gives the same corruption on every device); it returns
the same shape, in [0, 1]. The severities are fixed and stated beside each family; they follow
MNIST-C's published choices (the levels at which its authors found the digits still readable)
and notebook 10 shows a grid of examples. `corrupt` applies them to a data set.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core.augment import gaussian_blur

SIZE = 28
CENTRE = (SIZE - 1) / 2  # 13.5: the pixel-centre coordinate every geometric family turns about


def _rand(g, *shape, device="cpu"):
    return torch.rand(*shape, generator=g).to(device)


def _randn(g, *shape, device="cpu"):
    return torch.randn(*shape, generator=g).to(device)


def _sign(g, n, device):
    return (torch.randint(0, 2, (n,), generator=g) * 2 - 1).float().to(device)


def _affine(x: torch.Tensor, m: torch.Tensor, t: torch.Tensor | None = None, mode="bilinear"):
    """Resample `x` so that output pixel p shows input pixel CENTRE + m (p - CENTRE) - t: `m` is
    N x 2 x 2 in (column, row) order, `t` N x 2 a shift in pixels; black outside the image."""
    n = x.shape[0]
    t = torch.zeros(n, 2, device=x.device) if t is None else t
    theta = torch.cat([m, (-2 * t / SIZE).unsqueeze(2)], 2)  # pixels -> normalised units (2 = width)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _eye(n, device):
    return torch.eye(2, device=device).expand(n, 2, 2).clone()


def _grid(device):
    """Column and row coordinates of every pixel, each 1 x 1 x 28 x 28."""
    r = torch.arange(SIZE, dtype=torch.float32, device=device)
    return r.view(1, 1, 1, -1).expand(1, 1, SIZE, SIZE), r.view(1, 1, -1, 1).expand(1, 1, SIZE, SIZE)


def _stroke(dist: torch.Tensor) -> torch.Tensor:
    """A drawn line's ink at `dist` pixels from its centre: 1 on it, fading to 0 at 2.3 px
    (MNIST-C's profile, log(1 - d / 2.3) + 1)."""
    return (torch.log1p(-dist.clamp(max=2.3 - 1e-6) / 2.3) + 1).clamp(0, 1)



def shot_noise(x, g):
    """Photon (Poisson) noise: every pixel's intensity counted with 3 photons per unit."""
    rate = 3.0
    return (torch.poisson(x.cpu() * rate, generator=g).to(x.device) / rate).clamp(0, 1)


def impulse_noise(x, g):
    """Salt and pepper: 17 % of the pixels set to black or white, half each."""
    amount = 0.17
    hit, salt = _rand(g, *x.shape, device=x.device) < amount, _rand(g, *x.shape, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)



def glass_blur(x, g):
    """Blur (sigma 0.7 px), let every pixel take a random neighbour's value (half of them, offsets
    of one pixel, twice), blur again: frosted glass."""
    sigma, n = 0.7, x.shape[0]
    x = gaussian_blur(x, sigma)
    cols, rows = _grid(x.device)
    for _ in range(2):
        moved = _rand(g, n, SIZE * SIZE, device=x.device) < 0.5
        dx = torch.randint(-1, 2, (n, SIZE * SIZE), generator=g).to(x.device) * moved
        dy = torch.randint(-1, 2, (n, SIZE * SIZE), generator=g).to(x.device) * moved
        c = (cols.reshape(1, -1) + dx).clamp(0, SIZE - 1)
        r = (rows.reshape(1, -1) + dy).clamp(0, SIZE - 1)
        idx = (r * SIZE + c).long()
        x = x.reshape(n, -1).gather(1, idx).reshape(n, 1, SIZE, SIZE)
    return gaussian_blur(x, sigma).clamp(0, 1)


def motion_blur(x, g):
    """The image smeared along a random direction (within +-45 degrees of horizontal): each pixel
    averages the image behind it, Gaussian-weighted (sigma 3 px) over 10 px."""
    n, sigma, length = x.shape[0], 3.0, 10
    angle = (_rand(g, n, device=x.device) * 2 - 1) * math.radians(45)
    direction = torch.stack([angle.cos(), angle.sin()], 1)
    weights = torch.exp(-torch.arange(length + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    out = torch.zeros_like(x)
    for k, w in enumerate(weights.tolist()):
        out += w * _affine(x, _eye(n, x.device), -k * direction)
    return (out / weights.sum()).clamp(0, 1)



def shear(x, g):
    """A horizontal shear by 0.4 (columns move by 0.4 px per row from the centre), either way."""
    n = x.shape[0]
    m = _eye(n, x.device)
    m[:, 0, 1] = 0.4 * _sign(g, n, x.device)
    return _affine(x, m).clamp(0, 1)


def scale(x, g):
    """The digit shrunk to 0.7 of its size about the centre."""
    return _affine(x, _eye(x.shape[0], x.device) / 0.7).clamp(0, 1)


def rotate(x, g):
    """A rotation by 0.4 rad (23 degrees) about the centre, either way; training rotates by at
    most 15 degrees."""
    n = x.shape[0]
    a = 0.4 * _sign(g, n, x.device)
    m = torch.stack([torch.stack([a.cos(), -a.sin()], 1), torch.stack([a.sin(), a.cos()], 1)], 1)
    return _affine(x, m).clamp(0, 1)


def translate(x, g):
    """A shift by 3 px in each of x and y, each either way."""
    n = x.shape[0]
    t = 3.0 * torch.stack([_sign(g, n, x.device), _sign(g, n, x.device)], 1)
    return _affine(x, _eye(n, x.device), t, mode="nearest").clamp(0, 1)



def brightness(x, g):
    """Every pixel 0.5 brighter (the background turns mid-grey), clipped at white."""
    return (x + 0.5).clamp(0, 1)


def stripe(x, g):
    """The left and right quarters (7 columns each) inverted: white bands."""
    x = x.clone()
    x[..., :7], x[..., SIZE - 7:] = 1 - x[..., :7], 1 - x[..., SIZE - 7:]
    return x


def _smooth_noise(g, n, device, octaves=5, decay=1.4):
    """Fractal noise in [0, 1]: octaves of random grids (2, 4, 8, ... cells a side), each resized
    to 28 x 28 and weighted 1 / decay^k, normalised per image."""
    total = torch.zeros(n, 1, SIZE, SIZE, device=device)
    for k in range(octaves):
        cells = 2 ** (k + 1)
        coarse = _rand(g, n, 1, cells + 1, cells + 1, device=device)
        total += F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=True) / decay ** k
    low = total.amin((1, 2, 3), keepdim=True)
    return (total - low) / (total.amax((1, 2, 3), keepdim=True) - low).clamp_min(1e-6)


def fog(x, g):
    """Fractal fog three times as strong as the ink added, then scaled back into range: a digit
    of a quarter of its contrast over cloudy grey."""
    strength = 3.0
    peak = x.amax((1, 2, 3), keepdim=True)
    return ((x + strength * _smooth_noise(g, x.shape[0], x.device)) * peak / (peak + strength)).clamp(0, 1)



def spatter(x, g):
    """Blots of dark-grey mud (intensity 0.25) covering parts of the image: smoothed random
    noise above a threshold, its edges softened."""
    n = x.shape[0]
    liquid = gaussian_blur(0.65 + 0.3 * _randn(g, n, 1, SIZE, SIZE, device=x.device), 1.0)
    blots = gaussian_blur((liquid > 0.65).to(x.dtype), 1.5)
    m = torch.where(blots < 0.8, torch.zeros_like(blots), blots)
    return (x * (1 - m) + 0.25 * m).clamp(0, 1)


def dotted_line(x, g):
    """A dotted white line (2-px dashes, 2-px gaps) from the left edge to the right at random
    heights."""
    n = x.shape[0]
    cols, rows = _grid(x.device)
    r0, r1 = torch.randint(0, SIZE - 1, (2, n), generator=g).float().to(x.device).view(2, n, 1, 1, 1)
    line = _stroke((rows - (r0 + (r1 - r0) * cols / (SIZE - 1))).abs())
    dashes = ((cols // 2) % 2 == 1).to(x.dtype)
    return (x + line * dashes).clamp(0, 1)


def _segment_distance(cols, rows, a, b):
    """Distance of every pixel to the segments a -> b (N x S x 2 each): N x 1 x 28 x 28, the
    nearest segment's."""
    p = torch.stack([cols.reshape(-1), rows.reshape(-1)], 1)  # 784 x 2
    ab = (b - a).unsqueeze(2)  # N x S x 1 x 2
    ap = p.view(1, 1, -1, 2) - a.unsqueeze(2)
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    d = (ap - t.unsqueeze(-1) * ab).norm(dim=-1)  # N x S x 784
    return d.amin(1).view(-1, 1, SIZE, SIZE)


def zigzag(x, g):
    """A white zigzag (teeth 2 px high, 4 px apart) across the image from column 2 to 25, at a
    random height and slant."""
    n = x.shape[0]
    r0 = torch.randint(0, SIZE - 1, (n,), generator=g).float()
    r1 = r0 + torch.randint(-5, 5, (n,), generator=g).float()
    start, end = torch.stack([torch.full((n,), 2.0), r0], 1), torch.stack([torch.full((n,), 25.0), r1], 1)
    along = end - start
    length = along.norm(dim=1, keepdim=True)
    unit = along / length
    normal = torch.stack([-unit[:, 1], unit[:, 0]], 1)
    steps = torch.arange(0, 14, dtype=torch.float32)  # vertices 2 px apart along the line
    t = (2.0 * steps).view(1, -1).minimum(length)  # N x 14
    offset = torch.where(steps % 2 == 1, 2.0 * (-1.0) ** ((steps - 1) / 2), torch.zeros(())).view(1, -1)
    pts = start.unsqueeze(1) + t.unsqueeze(2) * unit.unsqueeze(1) + offset.unsqueeze(2) * normal.unsqueeze(1)
    pts = pts.to(x.device)
    cols, rows = _grid(x.device)
    return (x + _stroke(_segment_distance(cols, rows, pts[:, :-1], pts[:, 1:]))).clamp(0, 1)


def canny_edges(x, g):
    """Canny's edge detector (Gaussian sigma 1, Sobel gradients, thinning to local maxima along the
    gradient, hysteresis between 0.1 and 0.2): only the outline of each stroke, in white."""
    s = gaussian_blur(x, 1.0)
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device)
    gx = F.conv2d(F.pad(s, (1, 1, 1, 1), mode="replicate"), sobel.view(1, 1, 3, 3))
    gy = F.conv2d(F.pad(s, (1, 1, 1, 1), mode="replicate"), sobel.t().reshape(1, 1, 3, 3))
    mag = torch.hypot(gx, gy)
    # the gradient's direction, to the nearest of 0, 45, 90, 135 degrees: compare with both
    # neighbours along it
    sector = (torch.rad2deg(torch.atan2(gy, gx)) % 180 / 45).round().long() % 4
    padded = F.pad(mag, (1, 1, 1, 1))
    keep = torch.zeros_like(mag, dtype=torch.bool)
    for k, (dr, dc) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[..., 1 + dr:1 + dr + SIZE, 1 + dc:1 + dc + SIZE]
        behind = padded[..., 1 - dr:1 - dr + SIZE, 1 - dc:1 - dc + SIZE]
        keep |= (sector == k) & (mag >= ahead) & (mag >= behind)
    thin = mag * keep
    strong, weak = thin >= 0.2 * 4, thin >= 0.1 * 4  # a Sobel step of 1 measures 4
    edges = strong
    for _ in range(SIZE):  # grow the strong edges along connected weak ones
        grown = weak & (F.max_pool2d(edges.to(x.dtype), 3, 1, 1) > 0)
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges.to(x.dtype)
