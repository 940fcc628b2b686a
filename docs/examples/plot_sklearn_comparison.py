"""
Compare with scikit-learn's ``sparse_encode`` and SPAMS
=======================================================

``lca.sparse_encode(X, D, alpha)`` and scikit-learn's
``sparse_encode(X, D, algorithm='lasso_cd', alpha=alpha)`` solve the same LASSO
problem: scikit-learn hands ``Lasso`` the penalty ``alpha / n_features`` with the
data term ``1 / (2 n_features) ||x - D^T a||^2``, the same objective divided by
``n_features``. So the codes agree up to the solvers' tolerances, and the
objectives reached can be compared directly. SPAMS's ``lasso(X, D, lambda1=alpha,
mode=2)`` (LARS, exact) solves the same problem without any rescaling
(``pip install spams-bin``; the example skips it where SPAMS is not installed).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import sparse_encode as sk_sparse_encode

import lca

try:
    import spams
except ImportError:  # optional peer
    spams = None

rng = np.random.default_rng(0)
n_samples, n_features, n_atoms, alpha = 400, 64, 128, 0.1
D = rng.standard_normal((n_atoms, n_features))
D /= np.linalg.norm(D, axis=1, keepdims=True)
# Signals that are sparse combinations of the atoms, plus noise.
truth = rng.standard_normal((n_samples, n_atoms)) * (rng.random((n_samples, n_atoms)) < 0.05)
X = (truth @ D + 0.05 * rng.standard_normal((n_samples, n_features))).astype(np.float32)

t0 = time.perf_counter()
A_lca = lca.sparse_encode(X, D, alpha=alpha, n_jobs=2)
t_lca = time.perf_counter() - t0
t0 = time.perf_counter()
A_sk = sk_sparse_encode(X.astype(np.float64), D, algorithm="lasso_cd", alpha=alpha, max_iter=2000)
t_sk = time.perf_counter() - t0

obj_lca = lca.lasso_objective(X, D, A_lca, alpha)
obj_sk = lca.lasso_objective(X, D, A_sk, alpha)
print(f"lca: {t_lca * 1e3:.0f} ms, scikit-learn lasso_cd: {t_sk * 1e3:.0f} ms")
print(f"mean objective: lca {obj_lca.mean():.6f}, scikit-learn {obj_sk.mean():.6f}")
print(f"largest code difference: {np.abs(A_lca - A_sk).max():.2e}")
if spams is not None:
    t0 = time.perf_counter()
    A_sp = spams.lasso(np.asfortranarray(X.T, dtype=np.float64), D=np.asfortranarray(D.T),
                       lambda1=alpha, mode=2, numThreads=2).toarray().T
    t_sp = time.perf_counter() - t0
    obj_sp = lca.lasso_objective(X, D, A_sp, alpha)
    print(f"SPAMS lasso (LARS): {t_sp * 1e3:.0f} ms, mean objective {obj_sp.mean():.6f}, "
          f"largest code difference to lca {np.abs(A_lca - A_sp).max():.2e}")
else:
    print("SPAMS is not installed (pip install spams-bin): its comparison is skipped")

# %%
# Every coefficient of both solvers, and the objective of each signal.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
ax1.plot(A_sk.ravel(), A_lca.ravel(), ".", ms=2)
lim = np.abs(A_sk).max() * 1.05
ax1.plot([-lim, lim], [-lim, lim], "k-", lw=0.5)
ax1.set_xlabel("scikit-learn sparse_encode (lasso_cd)")
ax1.set_ylabel("lca.sparse_encode")
ax1.set_title("codes")
ax2.plot(obj_sk, obj_lca - obj_sk, ".", ms=3)
ax2.axhline(0, color="k", lw=0.5)
ax2.set_xlabel("objective, scikit-learn")
ax2.set_ylabel("objective, lca − scikit-learn")
ax2.set_title("objective per signal")
fig.tight_layout()
plt.show()
