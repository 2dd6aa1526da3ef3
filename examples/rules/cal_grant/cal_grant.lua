-- cal_grant.lua: Cal Grant A, B and C eligibility for one award year.
--
-- evaluate(a, p) decides for applicant a with the award year's parameter
-- table p (params/<year>.yaml). Ceilings are absolute: one dollar over is
-- ineligible. The figures all come from p; none is written here.
--
-- a.award         "A", "B" or "C"
-- a.gpa           verified GPA (nil if none was reported)
-- a.gpa_kind      "high_school" or "college"
-- a.independent   true for an independent student
-- a.married       true if an independent student is married
-- a.other_dependents  true if an independent student has dependents other
--                 than a spouse (they use the family-size rows)
-- a.family_size   number of people in the household
-- a.income        income in dollars
-- a.assets        assets in dollars, exclusions already applied
--
-- Returns {outcome = "eligible" | "ineligible" | "needs_review",
--          reasons = {{code = ..., text = ...}, ...}, values = {...}}.

local M = {}

-- The income ceiling row that applies to a.
local function ceiling_row(a, p)
  local c = p.income_ceilings
  if a.independent and not a.other_dependents then
    return a.married and c.independent_married or c.independent_single
  end
  -- rows run from the largest family down; the first row at or below
  -- the family size applies, and the largest row covers bigger families
  local best
  for _, row in ipairs(c.by_family_size) do
    if a.family_size >= row.family_size then
      return row
    end
    best = row
  end
  return best -- smaller than every row: use the smallest family's row
end

local function min_gpa(a, p)
  if a.award == "A" then
    if a.gpa_kind == "college" then
      return p.min_gpa.a_college
    end
    return p.min_gpa.a_high_school
  elseif a.award == "B" then
    return p.min_gpa.b
  end
  return nil -- Cal Grant C has no GPA requirement
end

function M.evaluate(a, p)
  local reasons = {}
  local function add(code, text)
    reasons[#reasons + 1] = {code = code, text = text}
  end

  if a.award ~= "A" and a.award ~= "B" and a.award ~= "C" then
    return {outcome = "needs_review",
            reasons = {{code = "unknown_award", text = "award is not A, B or C"}},
            values = {award = a.award}}
  end

  local gpa_min = min_gpa(a, p)
  if gpa_min ~= nil then
    if a.gpa == nil then
      add("gpa_missing", "no verified GPA on file")
    elseif a.gpa < gpa_min then
      add("gpa_below_minimum",
          string.format("GPA %.2f is below the minimum %.2f", a.gpa, gpa_min))
    end
  end

  local row = ceiling_row(a, p)
  local income_max = (a.award == "B") and row.b or row.a_c
  if a.income > income_max then
    add("income_over_ceiling",
        string.format("income $%.0f is over the ceiling $%.0f", a.income, income_max))
  end

  local asset_max = a.independent and p.asset_ceilings.independent
                    or p.asset_ceilings.dependent
  if a.assets > asset_max then
    add("assets_over_ceiling",
        string.format("assets $%.0f are over the ceiling $%.0f", a.assets, asset_max))
  end

  -- a missing GPA alone needs a person; any failed test is ineligible
  local outcome = "eligible"
  for _, r in ipairs(reasons) do
    if r.code ~= "gpa_missing" then
      outcome = "ineligible"
    elseif outcome == "eligible" then
      outcome = "needs_review"
    end
  end

  return {
    outcome = outcome,
    reasons = reasons,
    values = {award = a.award, gpa = a.gpa, gpa_minimum = gpa_min,
              income = a.income, income_ceiling = income_max,
              assets = a.assets, asset_ceiling = asset_max},
  }
end

return M
