//! The usable pixels of a pair gathered once, with their logical indices:
//! the input of the clipped and the weighted fits, which revisit the pixels
//! they fit (the plain fits never copy pixels).

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{CoreError, CoreResult};
use crate::fit::PairInput;
use crate::mask::{Counts, Exclusion};
use crate::scratch;
use crate::view::{walks_in_c_order, Frame, PixelArray, Walk};

/// The usable pixels of a pair in walk order, with their flat logical indices
/// (and their weights, when weights were given).
pub(crate) struct Gathered {
    pub(crate) x: Vec<f64>,
    pub(crate) y: Vec<f64>,
    pub(crate) w: Vec<f64>,
    /// Logical index of each gathered pixel; left empty while they are
    /// simply `0, 1, 2, ...` (`identity`, the common case).
    index: Vec<usize>,
    identity: bool,
    pub(crate) counts: Counts,
}

impl Gathered {
    /// Flat logical (C-order) index of gathered pixel `i`.
    pub(crate) fn logical(&self, i: usize) -> usize {
        if self.identity {
            i
        } else {
            self.index[i]
        }
    }

    /// Hand the buffers back to the per-thread pool.
    pub(crate) fn recycle(self) {
        scratch::give_f64(self.x);
        scratch::give_f64(self.y);
        scratch::give_f64(self.w);
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn gather(input: &PairInput<'_>, weights: Option<&Frame<'_>>) -> CoreResult<Gathered> {
    input.walk()?; // shape and emptiness checks with the user's names
    let shape = input.dark_in.shape().to_vec();
    let n = input.dark_in.len();
    // the logical index of each pixel: the walk position itself when the walk
    // keeps C order (the common case), else an index array walked alongside
    let in_order = walks_in_c_order(&shape, input.dark_in.data.strides());
    let mut iota = ArrayD::from_elem(IxDyn(if in_order { &[0][..] } else { &shape[..] }), 0_i64);
    let mut frames: Vec<Frame<'_>> = vec![input.dark_in.reborrow(), input.dark_out.reborrow()];
    if let Some(w) = weights {
        if w.shape() != shape.as_slice() {
            return Err(CoreError::ShapeMismatch {
                what_a: "dark_in",
                a: shape.clone(),
                what_b: "weights",
                b: w.shape().to_vec(),
            });
        }
        frames.push(w.reborrow());
    }
    let weighted = weights.is_some();
    let index_col = frames.len();
    if !in_order {
        for (k, v) in iota.iter_mut().enumerate() {
            *v = i64::try_from(k).unwrap_or(i64::MAX);
        }
        frames.push(Frame::native(PixelArray::I64(iota.view())));
    }
    let mask: Option<ArrayViewD<'_, bool>> = input.mask.as_ref().map(|m| m.view());
    let walk = Walk::new(&frames, mask.as_ref())?;
    let thr = input.exclusion.hot_threshold.unwrap_or(f64::INFINITY);
    // the common case (no mask, no weights, C order): both frames converted
    // straight into the gathered buffers, no block in between; the buffers
    // are written before they are read (pooled, not zeroed)
    let direct = in_order && !weighted && input.mask.is_none();
    let take = |len: usize| {
        if direct {
            scratch::take_f64_len(len)
        } else {
            scratch::take_f64(len)
        }
    };
    let mut g = Gathered {
        x: take(n),
        y: take(n),
        w: scratch::take_f64(if weighted { n } else { 0 }),
        index: Vec::new(),
        identity: true,
        counts: Counts::default(),
    };
    let exclusion = &input.exclusion;
    if direct && fill_usable(&walk, exclusion, &mut g) {
        return Ok(g);
    }
    let mut position = 0_usize;
    walk.for_each_block(&mut |b| {
        if in_order
            && exclusion.all_usable(b)
            && (!weighted || b.cols[2][..b.len].iter().all(|w| w.is_finite()))
        {
            // the common case: every pixel of the block is used, in order
            let n = b.len;
            g.x.extend_from_slice(&b.cols[0][..n]);
            g.y.extend_from_slice(&b.cols[1][..n]);
            if weighted {
                g.w.extend_from_slice(&b.cols[2][..n]);
            }
            if !g.identity {
                g.index.extend(position..position + n);
            }
            g.counts.n_total += n;
            position += n;
            return;
        }
        if g.identity {
            // from here on the gathered pixels are no longer 0, 1, 2, ...
            g.identity = false;
            g.index = (0..g.x.len()).collect();
        }
        for i in 0..b.len {
            let (x, y) = (b.cols[0][i], b.cols[1][i]);
            let w = if weighted { b.cols[2][i] } else { 1.0 };
            g.counts.n_total += 1;
            if !(x.is_finite() && y.is_finite() && w.is_finite()) {
                g.counts.n_nonfinite += 1;
            } else if b.mask[i] {
                g.counts.n_masked += 1;
            } else if x > thr {
                g.counts.n_hot += 1;
            } else {
                g.x.push(x);
                g.y.push(y);
                if weighted {
                    g.w.push(w);
                }
                g.index.push(if in_order {
                    position + i
                } else {
                    b.cols[index_col][i] as usize
                });
            }
        }
        position += b.len;
    });
    g.counts.n_used = g.x.len();
    Ok(g)
}

/// Convert both frames of `walk` straight into `g.x` and `g.y` (as long as
/// the walk); true when every pixel is usable, else the buffers are emptied
/// for the block-by-block gather.
fn fill_usable(walk: &Walk<'_>, exclusion: &Exclusion, g: &mut Gathered) -> bool {
    walk.fill(0, &mut g.x);
    walk.fill(1, &mut g.y);
    if exclusion.all_usable_slices(&g.x, &g.y) {
        g.counts.n_total = g.x.len();
        g.counts.n_used = g.x.len();
        return true;
    }
    g.x.clear();
    g.y.clear();
    false
}
