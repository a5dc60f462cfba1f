"""The integer codes shared by the kernels' layout and the numba kernels.

One definition for both: ``pyramid.models.layout`` writes these codes into the arrays it
hands to ``pyramid.models.kernels``, and imports them from here so that it needs no numba.
"""

# transforms (PyMC's: identity, log, logodds, ordered, simplex, zerosum)
T_ID, T_LOG, T_LOGODDS, T_ORDERED, T_SIMPLEX, T_ZEROSUM = range(6)
# priors of one element (P_NONE: the group-effect stage gives it)
(P_NONE, P_NORMAL, P_STUDENT_T, P_CAUCHY, P_HALF_NORMAL, P_HALF_STUDENT_T, P_HALF_CAUCHY,
 P_EXPONENTIAL, P_GAMMA, P_LOGNORMAL, P_BETA, P_LAPLACE, P_DIRICHLET, P_ZSN) = range(14)
# forms of an explicitly sampled group level
G_CENTRED, G_NONCENTRED, G_PARTIAL = range(3)
# equations and kinds of term
EQ_MAIN, EQ_MEDIATOR, EQ_SHIFT = range(3)
K_CAT, K_MO, K_NUM = range(3)
# operations on the Gaussian messages
OP_COMBINE, OP_INTEGRATE = range(2)
