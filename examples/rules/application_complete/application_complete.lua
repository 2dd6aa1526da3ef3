-- application_complete.lua: is a student application's case data
-- complete enough to submit? The guard of student_application's submit
-- (examples/workflows/student_application.yaml).
--
-- Input: the case's data object. A student application carries
-- `campuses`, the list of campus ids it is sent to (examples/
-- campuses.yaml); the award year's parameters name any other fields an
-- application must have (required_fields) and how many campuses it may
-- list.

rule {
  id = "application_complete",
  title = "Application complete",
  regulation = "UC undergraduate application: one application, any of the campuses",
  check = function(c, s, p)
    for _, field in ipairs(p.required_fields) do
      c:require(field, s[field], "missing_" .. field,
        "the application has no {name}")
    end

    local campuses = s.campuses
    if campuses == nil then
      return
    end
    local n = #campuses
    c:at_least("campus_count", n, p.min_campuses, "no_campuses",
      "the application lists no campus")
    c:at_most("campus_count_max", n, p.max_campuses, "too_many_campuses",
      "the application lists {value} campuses; at most {maximum}")

    -- every entry a campus id (lowercase letters, digits, '-'), once
    local seen = {}
    for i, id in ipairs(campuses) do
      local ok = type(id) == "string" and id:match(p.campus_id_pattern) ~= nil
      if not ok then
        c:fail("campus", "invalid_campus", "entry {position} is not a campus id",
          "position", i, "value", type(id) == "string" and id or type(id))
      elseif seen[id] then
        c:fail("campus", "duplicate_campus", "{campus} is listed twice",
          "campus", id)
      end
      if ok then
        seen[id] = true
      end
    end
    c:note("campuses", "count", n)
  end,
}
