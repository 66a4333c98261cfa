//! Departments and categories: read by everyone who needs them, changed by admins, seeded
//! with a sensible default for a French commune on first start.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::Core;
use super::permission::{Action, require};
use crate::domain::actor::Actor;
use crate::domain::catalogue::{Category, Department, ImplicitDecision, ImplicitOutcome, RequiredField};
use crate::domain::{Error, Result};

/// What a citizen needs to know about a category to ask for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicCategory {
    pub id: String,
    pub name: String,
    pub description: String,
    pub department: String,
    /// Maximum processing delay in working days.
    pub sla_days: u32,
    pub required: Vec<RequiredField>,
    pub implicit_decision: Option<ImplicitDecision>,
}

#[derive(Clone)]
pub struct CatalogueService {
    core: Arc<Core>,
}

impl CatalogueService {
    pub fn new(core: Arc<Core>) -> Self {
        CatalogueService { core }
    }

    /// A category a citizen may ask for (public and active).
    pub fn citizen_category(&self, id: &str) -> Result<Option<Category>> {
        Ok(self.core.repos.catalogue.category(id)?.filter(|c| c.public && c.active))
    }

    pub fn public_categories(&self) -> Result<Vec<PublicCategory>> {
        let repo = &self.core.repos.catalogue;
        let departments = repo.departments()?;
        let mut out: Vec<PublicCategory> = repo
            .categories()?
            .into_iter()
            .filter(|c| c.public && c.active)
            .map(|c| PublicCategory {
                department: departments
                    .iter()
                    .find(|d| d.id == c.department)
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
                id: c.id,
                name: c.name,
                description: c.description,
                sla_days: c.sla_days,
                required: c.required,
                implicit_decision: c.implicit_decision,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn departments(&self, actor: &Actor) -> Result<Vec<Department>> {
        require(actor, Action::ReadRequests)?;
        self.core.repos.catalogue.departments()
    }

    pub fn categories(&self, actor: &Actor) -> Result<Vec<Category>> {
        require(actor, Action::ReadRequests)?;
        self.core.repos.catalogue.categories()
    }

    /// Creates (`create`) or replaces a department.
    pub async fn put_department(&self, actor: &Actor, department: Department, create: bool) -> Result<Department> {
        require(actor, Action::ManageCatalogue)?;
        department.validate()?;
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                let existing = repos.catalogue.department_tx(tx, &department.id)?;
                match (&existing, create) {
                    (Some(_), true) => {
                        return Err(Error::conflict("already_exists", "a department with this id exists").into());
                    }
                    (None, false) => return Err(Error::not_found("department").into()),
                    _ => {}
                }
                repos.catalogue.put_department(tx, &department)?;
                let action = if create { "department.create" } else { "department.update" };
                let details = serde_json::to_value(&department).unwrap_or_default();
                repos.audit.append(tx, now, &actor, action, format!("department:{}", department.id), details)?;
                Ok(department.clone())
            })
            .await
    }

    /// Creates (`create`) or replaces a category. Its department must exist and be active.
    pub async fn put_category(&self, actor: &Actor, category: Category, create: bool) -> Result<Category> {
        require(actor, Action::ManageCatalogue)?;
        category.validate()?;
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                let existing = repos.catalogue.category_tx(tx, &category.id)?;
                match (&existing, create) {
                    (Some(_), true) => {
                        return Err(Error::conflict("already_exists", "a category with this id exists").into());
                    }
                    (None, false) => return Err(Error::not_found("category").into()),
                    _ => {}
                }
                if !repos.catalogue.department_tx(tx, &category.department)?.is_some_and(|d| d.active) {
                    return Err(Error::invalid("unknown_department", "department", "no such active department").into());
                }
                repos.catalogue.put_category(tx, &category)?;
                let action = if create { "category.create" } else { "category.update" };
                let details = serde_json::to_value(&category).unwrap_or_default();
                repos.audit.append(tx, now, &actor, action, format!("category:{}", category.id), details)?;
                Ok(category.clone())
            })
            .await
    }

    /// Seeds the default catalogue once, on the first start of an instance.
    pub async fn seed_if_new(&self) -> Result<bool> {
        // An imported or restored store brings its own catalogue.
        let repo = &self.core.repos;
        if repo.meta.get_flag("catalogue_seeded")?.is_some() || !repo.catalogue.departments()?.is_empty() {
            return Ok(false);
        }
        let (repos, now) = (self.core.repos.clone(), self.core.clock.now());
        let actor = Actor::system("seed");
        self.core
            .store
            .write(move |tx| {
                for department in default_departments() {
                    repos.catalogue.put_department(tx, &department)?;
                }
                for category in default_categories() {
                    repos.catalogue.put_category(tx, &category)?;
                }
                repos.meta.set_flag(tx, "catalogue_seeded", 1)?;
                repos.audit.append(tx, now, &actor, "catalogue.seed", "catalogue".into(), serde_json::Value::Null)?;
                Ok(true)
            })
            .await
    }
}

/// The catalogue a new commune starts with.
pub fn default_departments() -> Vec<Department> {
    [
        ("accueil", "Accueil de la mairie"),
        ("technique", "Services techniques"),
        ("urbanisme", "Urbanisme"),
        ("etat-civil", "État civil"),
        ("police", "Police municipale"),
        ("environnement", "Environnement et cadre de vie"),
    ]
    .into_iter()
    .map(|(id, name)| Department {
        id: id.into(),
        name: name.into(),
        email: String::new(),
        phone: String::new(),
        address: String::new(),
        active: true,
    })
    .collect()
}

pub fn default_categories() -> Vec<Category> {
    use RequiredField::*;
    let c = |id: &str, name: &str, description: &str, department: &str, sla_days: u32, required: &[RequiredField]| {
        Category {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            department: department.into(),
            sla_days,
            required: required.to_vec(),
            implicit_decision: None,
            public: true,
            active: true,
            messages: Default::default(),
        }
    };
    let mut occupation = c(
        "occupation-domaine-public",
        "Occupation du domaine public",
        "Terrasse, échafaudage, benne, déménagement : demande d'autorisation.",
        "urbanisme",
        30,
        &[Name, Email, PostalAddress, Location],
    );
    occupation.implicit_decision = Some(ImplicitDecision { months: 2, outcome: ImplicitOutcome::Rejection });
    vec![
        c("voirie", "Voirie", "Nid-de-poule, trottoir abîmé, signalisation.", "technique", 15, &[Location]),
        c("eclairage-public", "Éclairage public", "Lampadaire éteint ou qui clignote.", "technique", 10, &[Location]),
        c("proprete", "Propreté", "Dépôt sauvage, tags, corbeille pleine.", "environnement", 5, &[Location]),
        c("espaces-verts", "Espaces verts", "Arbres, tonte, aires de jeux.", "environnement", 20, &[Location]),
        c("dechets", "Déchets", "Collecte non faite, bac abîmé, encombrants.", "environnement", 10, &[PostalAddress]),
        c("eau", "Eau et assainissement", "Fuite, avaloir bouché, qualité de l'eau.", "technique", 10, &[Location]),
        c("stationnement", "Stationnement", "Véhicule gênant ou ventouse.", "police", 10, &[Location]),
        c("bruit", "Bruit et nuisances", "Nuisances sonores, troubles du voisinage.", "police", 15, &[]),
        c(
            "urbanisme",
            "Urbanisme",
            "Question sur un permis, une déclaration de travaux.",
            "urbanisme",
            30,
            &[Name, Email],
        ),
        c(
            "etat-civil",
            "État civil",
            "Actes de naissance, mariage, décès ; livret de famille.",
            "etat-civil",
            10,
            &[Name],
        ),
        c("cimetiere", "Cimetière", "Concessions, entretien du cimetière.", "etat-civil", 20, &[Name]),
        c("salle", "Location de salle", "Réservation d'une salle municipale.", "accueil", 15, &[Name, Email]),
        occupation,
        c("autre", "Autre demande", "Toute autre demande adressée à la mairie.", "accueil", 30, &[]),
    ]
}
