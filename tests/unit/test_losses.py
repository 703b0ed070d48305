import math

import pytest
import torch
from torch.nn import functional as F

from emotion_lab.errors import ParameterError
from emotion_lab.losses import ContrastiveCenterLoss, EmotionLoss, balanced_class_weights


def _loss_with_centers(**kwargs) -> ContrastiveCenterLoss:
    loss = ContrastiveCenterLoss(num_classes=2, feat_dim=2, **kwargs)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))  # ||c0 - c1|| = 5
    return loss


X = torch.tensor([[1.0, 0.0], [3.0, 5.0]])
Y = torch.tensor([0, 1])


def test_margin_form_matches_hand_computation():
    terms = _loss_with_centers(margin=6.0, lambda_=2.0)(X, Y)
    # intra: mean(||(1,0)-(0,0)||², ||(3,5)-(3,4)||²) = mean(1, 1) = 1
    assert terms.intra.item() == pytest.approx(1.0)
    # inter: 1/(C(C-1)) · Σ_{i≠j} max(0, 6 - 5)² = (1 + 1) / 2 = 1
    assert terms.inter.item() == pytest.approx(1.0)
    assert terms.total.item() == pytest.approx(1.0 + 2.0 * 1.0)


def test_inter_term_vanishes_beyond_margin():
    terms = _loss_with_centers(margin=5.0)(X, Y)
    assert terms.inter.item() == pytest.approx(0.0)
    terms = _loss_with_centers(margin=1.0)(X, Y)
    assert terms.inter.item() == 0.0


def test_ratio_form_matches_qi_and_su():
    terms = _loss_with_centers(form="ratio", eps=1.0)(X, Y)
    # own distances 1 and 1; others: ||(1,0)-(3,4)||² = 20, ||(3,5)-(0,0)||² = 34
    expected = 0.5 * (1 / (20 + 1) + 1 / (34 + 1)) / 2
    assert terms.total.item() == pytest.approx(expected)
    assert terms.intra.item() == pytest.approx(1.0)
    assert terms.inter.item() == pytest.approx(27.0)


def test_coincident_centers_have_finite_gradients():
    loss = ContrastiveCenterLoss(num_classes=3, feat_dim=4, margin=2.0)
    with torch.no_grad():
        loss.centers.zero_()
    terms = loss(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
    terms.total.backward()
    assert torch.isfinite(loss.centers.grad).all()
    assert terms.inter.item() == pytest.approx(4.0)  # every pair at distance 0: (2 - 0)²


def test_centers_learn_toward_their_class():
    torch.manual_seed(0)
    loss = ContrastiveCenterLoss(num_classes=2, feat_dim=2, margin=0.0)
    opt = torch.optim.SGD(loss.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        loss(X, Y).total.backward()
        opt.step()
    assert torch.allclose(loss.centers.detach(), X, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"margin": -1.0}, "margin=-1.0: must be >= 0"),
        ({"lambda_": -0.5}, "lambda_=-0.5: must be >= 0"),
        ({"form": "cosine"}, "form='cosine': must be"),
    ],
)
def test_nonsense_values_name_their_parameter(kwargs, key):
    with pytest.raises(ParameterError, match=f"^{key}"):
        ContrastiveCenterLoss(num_classes=2, feat_dim=2, **kwargs)


def test_the_objective_names_its_own_parameter_for_the_center_form():
    with pytest.raises(ParameterError, match="^center_form='cosine': must be"):
        EmotionLoss(3, 2, center_form="cosine")


def test_total_is_ce_plus_beta_times_center_terms():
    torch.manual_seed(0)
    logits = torch.randn(2, 2)
    objective = EmotionLoss(num_classes=2, feat_dim=2, beta=0.3, margin=6.0, lambda_=2.0)
    with torch.no_grad():
        objective.center.centers.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    terms = objective(logits, X, Y)
    ce = F.cross_entropy(logits, Y)
    assert terms["ce"].item() == pytest.approx(ce.item())
    assert terms["loss"].item() == pytest.approx(ce.item() + 0.3 * 3.0)
    assert {"intra", "inter", "center"} <= set(terms)


def test_beta_zero_is_plain_cross_entropy():
    logits = torch.randn(2, 2)
    terms = EmotionLoss(num_classes=2, feat_dim=2, beta=0.0)(logits, X, Y)
    assert terms["loss"].item() == pytest.approx(F.cross_entropy(logits, Y).item())


def test_balanced_weights_follow_sklearn_rule():
    weights = balanced_class_weights([10, 30, 0])
    assert weights.tolist() == pytest.approx([40 / (2 * 10), 40 / (2 * 30), 0.0])
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 1, 1, 1])
    objective = EmotionLoss(
        3, 2, use_centers=False, class_weights="balanced", class_counts=[10, 30, 0]
    )
    expected = F.cross_entropy(logits, labels, weight=weights)
    assert objective(logits, torch.zeros(4, 2), labels)["loss"].item() == pytest.approx(
        expected.item()
    )


def test_class_weights_reject_wrong_length_and_unknown_rule():
    with pytest.raises(ParameterError, match=r"^class_weights=\[1.0, 2.0\]: 2 values for 3"):
        EmotionLoss(3, 2, class_weights=[1.0, 2.0])
    with pytest.raises(ParameterError, match="^class_weights='inverse'"):
        EmotionLoss(3, 2, class_weights="inverse")
    assert not math.isnan(EmotionLoss(3, 2, class_weights=[1, 2, 3]).class_weight.sum().item())


def test_the_unweighted_cross_entropy_is_kerass_val_loss() -> None:
    """Class weights act on training only: the monitored loss drops them (S003, S004)."""
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 0, 0, 0, 1, 2])
    weighted = EmotionLoss(3, 2, beta=0.0, class_weights="balanced", class_counts=[40, 5, 5])
    terms = weighted(logits, torch.zeros(6, 2), labels)
    plain = F.cross_entropy(logits, labels)
    assert torch.allclose(weighted.unweighted_ce(logits, labels), plain)
    assert not torch.allclose(terms["ce"], plain)  # the weighted one differs
