/*
 * zipf: rejection-inversion sampling. H is an antiderivative of the
 * decreasing hat h(x) = x^-s; a uniform point of H's range maps back through
 * H^-1 to x, rounds to the rank k, and is kept if it fell under the step of
 * height h(k) that belongs to k (almost always: the squeeze decides most
 * cases without evaluating H).
 */
#include "zipf.h"

#include <math.h>

/* log1p(x) / x, continuous at 0. */
static double zipf_log1p_over(double x)
{
    if (fabs(x) > 1e-8)
        return log1p(x) / x;
    return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, continuous at 0. */
static double zipf_expm1_over(double x)
{
    if (fabs(x) > 1e-8)
        return expm1(x) / x;
    return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

static double zipf_h(const struct zipf *z, double x)
{
    return exp(-z->s * log(x));
}

/* H(x) = (x^(1-s) - 1) / (1 - s), written so that s = 1 (log x) needs no
 * special case. */
static double zipf_H(const struct zipf *z, double x)
{
    double lx = log(x);
    return zipf_expm1_over((1.0 - z->s) * lx) * lx;
}

static double zipf_H_inv(const struct zipf *z, double y)
{
    double t = y * (1.0 - z->s);
    if (t < -1.0)
        t = -1.0; /* only rounding can push it there */
    return exp(zipf_log1p_over(t) * y);
}

int zipf_init(struct zipf *z, uint64_t n, double s)
{
    if (n < 1 || !(s >= 0.0 && s <= 100.0))
        return -1;
    z->n = n;
    z->s = s;
    z->h_x1 = zipf_H(z, 1.5) - 1.0;
    z->h_n = zipf_H(z, (double)n + 0.5);
    z->squeeze = 2.0 - zipf_H_inv(z, zipf_H(z, 2.5) - zipf_h(z, 2.0));
    return 0;
}

uint64_t zipf_sample(const struct zipf *z, struct rng *r)
{
    for (;;) {
        double u = z->h_n + rng_double(r) * (z->h_x1 - z->h_n);
        double x = zipf_H_inv(z, u);
        double kd = floor(x + 0.5);
        if (kd < 1.0)
            kd = 1.0;
        else if (kd > (double)z->n)
            kd = (double)z->n;
        if (kd - x <= z->squeeze || u >= zipf_H(z, kd + 0.5) - zipf_h(z, kd))
            return (uint64_t)kd - 1;
    }
}
